FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cctv cctv
COPY services services
COPY demo demo
RUN pip install --no-cache-dir . && useradd --uid 10001 cctv
USER 10001
EXPOSE 8080
CMD ["python", "-m", "services.console"]
