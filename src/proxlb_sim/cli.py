"""`proxlb-sim`: serve a simulated Proxmox VE cluster, or generate a scenario. Prints and exits here only.

`serve` prints ONE JSON line on stdout when ready ({"url","host","port","ca_file","user","password",
"token"}), logs to stderr, and stops cleanly on SIGTERM/SIGINT. `generate` writes a scenario file.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from proxlb.errors import ProxlbError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proxlb-sim", description="Simulated Proxmox VE cluster (PVE REST API over HTTPS)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a scenario over HTTPS")
    serve.add_argument(
        "--scenario", required=True, help="scenario file (YAML/JSON) or bundled name, e.g. demo"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8006, help="0 = any free port")
    serve.add_argument("--time-scale", type=float, default=None, help="sim seconds per real second")
    serve.add_argument("--seed", type=int, default=None)
    serve.add_argument("--cert", type=Path, default=None, help="PEM certificate (default: self-signed)")
    serve.add_argument("--key", type=Path, default=None, help="PEM key for --cert")
    serve.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="keep the CA/cert here and reuse them on restart (default: a temp dir)",
    )
    serve.add_argument("--verbose", "-v", action="store_true")
    gen = sub.add_parser("generate", help="write a realistic random scenario")
    gen.add_argument("--nodes", type=int, default=5)
    gen.add_argument("--guests", type=int, default=40)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--skew", type=float, default=0.5, help="0 = even placement, 1 = piled onto few nodes")
    gen.add_argument("--pve8-nodes", type=int, default=0, help="how many nodes run PVE 8")
    gen.add_argument("-o", "--output", type=Path, default=None, help="file (default: stdout)")
    return parser


def _serve(args: argparse.Namespace) -> int:
    from proxlb_sim.launch import start_simulator
    from proxlb_sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if (args.cert is None) != (args.key is None):
        print("proxlb-sim: --cert and --key go together", file=sys.stderr)
        return 2
    seed = scenario.sim.seed if args.seed is None else args.seed
    scale = scenario.sim.time_scale if args.time_scale is None else args.time_scale
    server, info = start_simulator(
        scenario,
        time_scale=scale,
        seed=seed,
        host=args.host,
        port=args.port,
        cert_file=args.cert,
        key_file=args.key,
        state_dir=args.state_dir,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(json.dumps(info.ready_line()), flush=True)
    logging.getLogger(__name__).info(
        "serving %d nodes / %d guests on %s (time scale %s)",
        len(info.cluster.nodes),
        len(info.cluster.guests),
        info.url,
        scale,
    )
    while not stop.wait(0.5):
        pass
    server.stop()
    logging.getLogger(__name__).info("simulator stopped")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from proxlb_sim.generate import GenerateOptions, generate_scenario, to_yaml

    options = GenerateOptions(
        nodes=args.nodes, guests=args.guests, seed=args.seed, skew=args.skew, pve8_nodes=args.pve8_nodes
    )
    text = to_yaml(generate_scenario(options))
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = _serve(args) if args.command == "serve" else _generate(args)
    except ModuleNotFoundError as exc:  # an optional dependency (the `sim` extra) is not installed
        missing = f"proxlb-sim: needs {exc.name}, which is not installed: pip install 'proxlb[sim]'"
        print(missing, file=sys.stderr)
        code = 1
    except (ProxlbError, OSError) as exc:
        print(f"proxlb-sim: {exc}", file=sys.stderr)
        code = 1
    raise SystemExit(code)


if __name__ == "__main__":
    main()
