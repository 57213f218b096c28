"""Map layers: each module turns store data (or an API URL) into a folium element.

Layers that show data fetch it from our JSON API and build popups with DOM text nodes in
`static/js/geomap-map.js`; nothing user-supplied is ever spliced into HTML or JavaScript source.
"""
