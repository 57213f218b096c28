"""Translated UI strings and vocabulary labels for pages and map scripts (gettext)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..model import (
    AUTHORITY_LABELS,
    CONFIDENCE_LABELS,
    FACILITY_COLOURS,
    FACILITY_LABELS,
    PRECISION_LABELS,
    RELATIONSHIP_LABELS,
    SITE_STATUS_LABELS,
    VIOLATION_LABELS,
)

# The English vocabulary labels live in geomap.model (no Flask there); listing them here
# through _l() puts them in the message catalogue for translators.
_VOCAB_MSGIDS = [
    _l("Political prison camp (kwalliso)"), _l("Re-education camp / long-term prison (kyohwaso)"),
    _l("Holding centre (jipkyulso)"), _l("Labour-training camp (rodong danryondae)"),
    _l("Police / MSS detention centre (kuryujang)"), _l("Execution site"), _l("Burial site"),
    _l("Other"), _l("Exact (within 10 m)"), _l("Vicinity (within 100 m)"),
    _l("Locality (within 1 km)"), _l("Area (within 10 km)"), _l("Admin unit only"),
    _l("Arbitrary detention"), _l("Forced labour"), _l("Torture / ill-treatment"), _l("Execution"),
    _l("Deliberate starvation"), _l("Sexual violence"), _l("Enforced disappearance"),
    _l("Death in custody"), _l("Forced abortion / infanticide"), _l("Public execution"),
    _l("Was detained there"), _l("Saw directly"), _l("Heard from a victim"), _l("Hearsay"),
    _l("Internal"), _l("Partner"), _l("Public"),
    _l("Ministry of State Security (MSS)"), _l("Ministry of Social Security (MPS)"),
    _l("Operating"), _l("Closed"), _l("Reported closed (unconfirmed)"), _l("Unknown"),
    _l("High"), _l("Medium"), _l("Low"),
]


def vocab() -> dict:
    return {
        "types": {str(k): _(v) for k, v in FACILITY_LABELS.items()},
        "colours": {str(k): v for k, v in FACILITY_COLOURS.items()},
        "precisions": {str(k): _(v) for k, v in PRECISION_LABELS.items()},
        "violations": {str(k): _(v) for k, v in VIOLATION_LABELS.items()},
        "relationships": {str(k): _(v) for k, v in RELATIONSHIP_LABELS.items()},
        "grades": {"strongly_corroborated": _("Strongly corroborated"),
                   "corroborated": _("Corroborated"), "single_source": _("Single source"),
                   "no_confirmed_testimony": _("No confirmed testimony")},
        "authorities": {str(k): _(v) for k, v in AUTHORITY_LABELS.items()},
        "statuses": {str(k): _(v) for k, v in SITE_STATUS_LABELS.items()},
        "confidences": {str(k): _(v) for k, v in CONFIDENCE_LABELS.items()},
        # what a citation supports (facility_sources.csv `supports`)
        "supports": {"location": _("location"), "status": _("status"), "name": _("name")},
    }


def map_text() -> dict:
    return {
        "basemap": _("Relief (offline)"),
        "provinces": _("Provinces"),
        "sites": _("Sites"),
        "imagery_confirmed": _("Confirmed on imagery"),
        "testimonies": _("Testimonies (synthetic)"),
        "legend": _("Sites by facility type"),
        "testimony_point": _("Testimony (reported location)"),
        "testimony_cluster": _("Testimonies grouped (count)"),
        "uncertainty_circle": _("Uncertainty radius (zoom in)"),
        "type": _("Type"),
        "aliases": _("Also known as"),
        "period": _("Period"),
        "status": _("Status"),
        "precision": _("Location precision"),
        "precision_note": _("About this location"),
        "province": _("Province"),
        "nearest": _("outside every province; nearest"),
        "sources": _("Sources"),
        "testimony": _("Testimony"),
        "place": _("Reported place"),
        "uncertainty": _("Uncertainty radius"),
        "violations": _("Violations"),
        "relationship": _("Witness relationship"),
        "synthetic": _("SYNTHETIC test record, not a real account"),
        "capped": _("Showing %(shown)s of %(total)s testimonies in view; zoom in to see all."),
        "grouped": _("%(total)s testimonies in view, grouped by area; zoom in to see each one."),
        "zoom_in": _("Zoom in"),
        "error": _("Could not load data"),
        "dossier": _("Open the site dossier"),
        "close": _("Close"),
        "witnesses": _("Independent witnesses"),
        "imagery": _("Imagery"),
        "grade": _("Corroboration"),
        "period_filter": _("Period"),
        "from": _("from"),
        "to": _("to"),
        "apply": _("Filter"),
        "clear": _("Clear"),
        "basemap_package": _("Offline basemap: %(name)s"),
        "online_basemap": _("Online basemap"),
        "filters": _("Filters"),
        "filter_types": _("Facility type (sites)"),
        "filter_violations": _("Violation (testimonies)"),
        "filter_none": _("None selected: all are shown."),
    }


def message_text(m) -> str:
    """A library message in the reader's language. `m` is a geomap.messages.Message, an
    error carrying one, a problem dict as imports report and the quarantine stores it
    ({"message", "template", "params"}), or plain text. Problems stored before templates were
    kept have only their English "message": they show as stored."""
    from ..messages import Message

    if isinstance(m, BaseException):
        m = getattr(m, "msg", None) or str(m)
    if isinstance(m, dict):
        if m.get("template"):
            try:
                m = Message.from_dict(m)
            except (KeyError, TypeError, AttributeError):
                return str(m.get("message") or "")
        else:
            return str(m.get("message") or "")
    if isinstance(m, Message):
        from flask_babel import get_locale

        locale = get_locale()
        return m.render(_, locale.language if locale else "en")
    return "" if m is None else str(m)
