"""The web console ``klaxon api`` serves at ``/``: server-rendered pages for operators.

Pages are Jinja2 templates rendered on the server (no front-end build); the only script
(``static/console.js``) refreshes the live part of a page every few seconds. Sign-in is a
signed session cookie (``klaxon.console.session``); every form that changes state carries
the session's CSRF token, and ``read`` users are refused such requests by the server, not
only by hidden buttons (``klaxon.console.guard``). See docs/console.md.
"""
