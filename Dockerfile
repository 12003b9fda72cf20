FROM python:3.11-slim
# CJK fonts: the console prints the regulation's paper forms (Annex 2-4) as PDF in Chinese
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cctv cctv
COPY services services
COPY demo demo
RUN pip install --no-cache-dir . && useradd --uid 10001 cctv
USER 10001
EXPOSE 8080
CMD ["python", "-m", "services.console"]
