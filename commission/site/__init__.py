"""The public results site (issue 15): national, regional and precinct pages that
update as protocols arrive, their JSON, and the signed files behind them.

`site_routes(ctx)` returns Starlette routes for the commission server to mount;
`ctx` needs `engine` (the commission database's SQLAlchemy engine), `setup_dir`
(the directory with election.json and stations.json), `definition` (the
Election) and optionally `turnout_by_hour` (see turnout.py). Routes:

    /                         national page      /site-api/national
    /region/{code}            region page        /site-api/region/{code}
    /precinct/{number}        precinct page      /site-api/precinct/{number}
    /files/election.json, /files/stations.json, /files/published.tar,
    /files/protocols/precinct-NNNNNN.json, /files/keys/station-NNNNNN.pem
    /site-static/...          CSS and the page script (no third-party code)

Pages take `?lang=kk|ru|en` (default kk). Names of parties and regions come from
the definition in that language; the page's words from i18n.py.
"""

from .routes import site_routes

__all__ = ["site_routes"]
