# syntax=docker/dockerfile:1.7
# App image: our code on top of the base image (Python dependencies + preloaded /models). Builds in seconds.
#
#   docker build -f Dockerfile.app --build-arg BASE_IMAGE=yourname/whisperx-worker-base:latest \
#       -t yourname/whisperx-worker:latest .
#
# One image, three modes: APP_MODE=ui (default) serves Gradio on 7860 (with the OpenAI-compatible API under /v1);
# APP_MODE=api serves that API alone on PORT (8000; a RunPod load-balancing endpoint); APP_MODE=runpod starts the
# RunPod queue worker.
ARG BASE_IMAGE=yourname/whisperx-worker-base:latest
FROM ${BASE_IMAGE}

WORKDIR /app
COPY core/ ./core/
COPY ui/ ./ui/
COPY rp_worker/ ./rp_worker/
COPY openai_api/ ./openai_api/
COPY rp_handler.py app.py ./

ENV APP_MODE=ui DATA_DIR=/data GRADIO_SERVER_NAME=0.0.0.0
# The voice library (enrolled voices, personal data) lives in DATA_DIR: a volume, so it outlives the container
# (on RunPod, point DATA_DIR at the network volume instead, e.g. /runpod-volume/whisperx-data).
VOLUME ["/data"]
EXPOSE 7860 8000

# UI mode: the Gradio page must answer; API mode: /ping (204 while loading, 200 ready). RunPod mode serves no HTTP,
# so the check passes there.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as r; e = os.environ.get; mode = (e('APP_MODE') or 'ui').strip().lower(); url = {'ui': 'http://127.0.0.1:' + (e('GRADIO_SERVER_PORT') or '7860') + '/', 'api': 'http://127.0.0.1:' + (e('PORT_HEALTH') or e('PORT') or '8000') + '/ping'}.get(mode); sys.exit(0) if url is None else r.urlopen(url, timeout=8)"]

CMD ["python", "app.py"]
