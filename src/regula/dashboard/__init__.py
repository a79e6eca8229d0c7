"""The manager's dashboard's data: the queries behind its charts (the page itself is ``regula.web.dashboard``)."""
