# CallTrax API server image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini requirements-runtime.lock ./
# The tested versions, with their hashes (`make lock`), before our own package.
RUN pip install --require-hashes -r requirements-runtime.lock
COPY calltrax ./calltrax
COPY domain ./domain
COPY persistence ./persistence
COPY services ./services
COPY graph ./graph
COPY webhooks ./webhooks
COPY exports ./exports
RUN pip install --no-deps . && useradd --system --home /app calltrax
USER calltrax

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"
CMD ["calltrax", "serve", "--host", "0.0.0.0", "--port", "8000"]
