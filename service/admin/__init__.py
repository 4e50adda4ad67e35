"""The admin web page, served at /admin by the same service: search, the customer card, imports,
jobs and statistics, the questionnaire settings and the search index (docs/admin.md).

Server-rendered Jinja2 templates with a little htmx and plain JavaScript; every asset ships in
this package. `service.admin.site.install` adds it to the application.
"""
