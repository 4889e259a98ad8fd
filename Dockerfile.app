# syntax=docker/dockerfile:1.7
# App image: our code on top of the base image (Python dependencies + preloaded /models). Builds in seconds.
#
#   docker build -f Dockerfile.app --build-arg BASE_IMAGE=yourname/whisperx-worker-base:latest \
#       -t yourname/whisperx-worker:latest .
#
# One image, two modes: APP_MODE=ui (default) serves Gradio on 7860; APP_MODE=runpod starts the RunPod worker.
ARG BASE_IMAGE=yourname/whisperx-worker-base:latest
FROM ${BASE_IMAGE}

WORKDIR /app
COPY core/ ./core/
COPY ui/ ./ui/
COPY rp_worker/ ./rp_worker/
COPY rp_handler.py app.py ./

ENV APP_MODE=ui DATA_DIR=/data
# The voice library (enrolled voices, personal data) lives in DATA_DIR: a volume, so it outlives the container
# (on RunPod, point DATA_DIR at the network volume instead, e.g. /runpod-volume/whisperx-data).
VOLUME ["/data"]
EXPOSE 7860

# UI mode: the Gradio page must answer. RunPod mode serves no HTTP, so the check passes there.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as r; mode = (os.environ.get('APP_MODE') or 'ui').strip().lower(); port = os.environ.get('GRADIO_SERVER_PORT') or '7860'; sys.exit(0) if mode != 'ui' else r.urlopen(f'http://127.0.0.1:{port}/', timeout=8)"]

CMD ["python", "app.py"]
