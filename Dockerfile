# ProxLB container: non-root, config mounted at /etc/proxlb/proxlb.yaml, state in the /var/lib/proxlb volume.
#   docker build -t proxlb .
#   docker run -d --name proxlb -v /etc/proxlb:/etc/proxlb:ro -v proxlb-state:/var/lib/proxlb proxlb
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/proxlb \
 && /opt/proxlb/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/proxlb/bin/pip install --no-cache-dir /src

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/proxlb --shell /usr/sbin/nologin proxlb \
 && install -d -o proxlb -g proxlb -m 0750 /var/lib/proxlb /etc/proxlb
COPY --from=build /opt/proxlb /opt/proxlb
ENV PATH=/opt/proxlb/bin:$PATH \
    PYTHONUNBUFFERED=1
USER proxlb
VOLUME ["/var/lib/proxlb"]
# SIGTERM lets in-flight migrations be followed (service.stop_timeout, default 120 s):
# stop with `docker stop -t 180`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["proxlb"]
CMD ["-c", "/etc/proxlb/proxlb.yaml"]
