"""Downloads under /exports/<dataset>.<format> (geomap.exports builds and audits them).

A session or a personal API token (geomap.tokens accepts tokens under /exports/) reads them,
so QGIS, GDAL and scripts can fetch a file. `/exports/` itself takes the page form's fields
and redirects to the file's address."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request, url_for

from .. import exports
from ..errors import InvalidInput
from ..messages import N_, Message
from ..model import Tier
from ..policy import Permission
from . import get_settings, get_store, params
from .security import current_principal, require

bp = Blueprint("exports", __name__, url_prefix="/exports")

_DATASETS = ",".join(exports.DATASETS)
_FORMATS = ",".join(exports.FORMATS)
FILE_ARGS = ("audience", "narratives", "bom")


@bp.before_request
def _readers_only():
    require(Permission.READ_MAP)


def _flag(name: str) -> bool:
    v = request.args.get(name, "")
    if v not in ("", "0", "1", "on", "true", "false"):
        raise InvalidInput(Message(N_("%(name)s: %(value)r is not 1 or 0"), name=name, value=v),
                           field=name)
    return v in ("1", "on", "true")


def _audience() -> Tier:
    v = request.args.get("audience") or Tier.INTERNAL.value
    try:
        return Tier(v)
    except ValueError:
        raise InvalidInput(Message(N_("audience: %(value)r is not one of %(choices)s"), value=v,
                                   choices=", ".join(t.value for t in Tier)),
                           field="audience") from None


@bp.get("/")
def choose():
    """The page form's GET: dataset and format as fields, then the file's own address."""
    params.check_known(request.args, ("dataset", "format", *FILE_ARGS))
    dataset, fmt = request.args.get("dataset", ""), request.args.get("format", "")
    if dataset not in exports.DATASETS:
        raise InvalidInput(Message(N_("dataset: %(value)r is not one of %(choices)s"),
                                   value=dataset, choices=_DATASETS), field="dataset")
    if fmt not in exports.FORMATS:
        raise InvalidInput(Message(N_("format: %(value)r is not one of %(choices)s"),
                                   value=fmt, choices=_FORMATS), field="format")
    keep = {k: v for k in FILE_ARGS if (v := request.args.get(k))}
    return redirect(url_for("exports.download", dataset=dataset, fmt=fmt, **keep))


@bp.get(f"/<any({_DATASETS}):dataset>.<any({_FORMATS}):fmt>")
def download(dataset: str, fmt: str):
    from ..corroboration import GradeRule

    params.check_known(request.args, FILE_ARGS)
    f = exports.ExportFilters(audience=_audience(), with_narratives=_flag("narratives"),
                              bom=_flag("bom"), rule=GradeRule.from_settings(get_settings()))
    result = exports.export(get_store(), current_principal(), dataset, fmt, f)
    if isinstance(result.data, bytes):
        body = result.data
    else:  # a GeoPackage: GDAL wrote a temporary file; read it and remove it
        try:
            body = result.data.read_bytes()
        finally:
            result.data.unlink(missing_ok=True)
    resp = Response(body, mimetype=result.media_type.split(";")[0])
    if result.media_type.startswith("text/"):
        resp.charset = "utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.cache_control.private = True
    resp.cache_control.no_store = True
    return resp
