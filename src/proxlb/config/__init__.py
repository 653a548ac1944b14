"""Configuration: pydantic models of `proxlb.yaml` (upstream 2.3.0 compatible) and their loading.

Public API: `load_config`, `LoadedConfig`, `ProxlbConfig`, `DEFAULT_CONFIG_PATH`, `parse_api_host`,
`ApiEndpoint`, `active_maintenance_nodes`, `check_config`, `CheckResult`, `redacted_dict`.
"""

from proxlb.config.check import CheckResult, check_config
from proxlb.config.hosts import DEFAULT_API_PORT, ApiEndpoint, parse_api_host
from proxlb.config.load import DEFAULT_CONFIG_PATH, LoadedConfig, load_config
from proxlb.config.model import ProxlbConfig
from proxlb.config.redact import redacted_dict
from proxlb.config.schedule import active_maintenance_nodes

__all__ = [
    "DEFAULT_API_PORT",
    "DEFAULT_CONFIG_PATH",
    "ApiEndpoint",
    "CheckResult",
    "LoadedConfig",
    "ProxlbConfig",
    "active_maintenance_nodes",
    "check_config",
    "load_config",
    "parse_api_host",
    "redacted_dict",
]
