"""The task side of the runtime: delegating a task and getting its outcome back, and serving skills.

Requesting: ``requester`` publishes a request and waits for the result that
``replies`` routes back. Serving: ``worker`` runs a skill for each request,
``reports`` publishes its states and result, ``finished`` remembers finished
tasks so a redelivered request is answered without running again, and
``cancels`` tracks cancel requests.
"""
