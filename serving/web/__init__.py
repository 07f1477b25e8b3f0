"""The staff pages under /ui/: server-rendered templates over the same functions the API calls.

`app.install(fastapi_app)` adds them; each page module is a router (`sales`, `forecasts`, `customers`, `feedback`,
`models`) and `pages.PAGES` says which roles see which page, with the API's rules.
"""
