"""OpenAI-compatible speech API (`/v1/audio/transcriptions`, `/v1/audio/translations`, `/v1/models`, `/health`,
`/ping`) on the shared engine: mounted on the Gradio app in `APP_MODE=ui` (same port, one queue with the page)
or served alone in `APP_MODE=api` (a RunPod load-balancing endpoint).

Modules: `auth` (who may call it: API keys, else the page's users by HTTP Basic, else open), `errors` (OpenAI's
error object), `form` (the multipart request, size-capped while it streams), `responses` (OpenAI's response
shapes and stream events), `jobs` (the queue shared with the page, cancelling a job whose client left), `routes`
(the endpoints), `server` (mounting and serving).

May import `core` and the web stack (fastapi, starlette, uvicorn); never `ui`, `rp_worker` or gradio at import
time (`server` touches a Gradio app only through the object it is given). `core` never imports this package.
"""
