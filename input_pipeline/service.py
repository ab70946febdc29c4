r"""Optional tf.data service: run the input pipeline on remote workers instead of the trainer.

With `config.data.service_address = 'grpc://host:port'` (a dispatcher), the train dataset up
to the decoded uint8 windows is sent to the dispatcher and its workers run it (read, parse,
gather, decode); the trainer only receives windows and pads them into batches, and its
accelerator does the float work. `config.data.service_processing_mode` is
'distributed_epoch' (workers split the shards between them, each example once per epoch; a
worker that dies loses the rest of its split, so at most once then) or 'parallel_epochs'
(every worker runs the whole dataset; examples repeat once per worker).

The servers are this module's binary, one process per role and host::

    python -m input_pipeline.service --role=dispatcher --port=5050
    python -m input_pipeline.service --role=worker --port=5051 \
        --dispatcher_address=DISPATCHER_HOST:5050 --worker_host=$(hostname)

then train with `--config.data.service_address=grpc://DISPATCHER_HOST:5050`. Workers read
the data directory themselves (same path, e.g. gs://) and need this project installed only
for the binary: they run the serialized graph.

Run the servers only inside a private network. Both listen on every interface of their host
(TensorFlow offers no bind address) and speak plain gRPC with no authentication, and a
worker runs whatever dataset graph a client sends it, reading any file (or gs:// object) its
account can. So: hosts without public IPs, in one private network (a VPC), behind a firewall
rule that admits the two ports only from the trainer and worker hosts (on GCP, for example,
`gcloud compute firewall-rules create tf-data-service --network=NET --allow=tcp:5050-5051
--source-ranges=SUBNET_CIDR`, and no rule that opens them to 0.0.0.0/0); and
`--worker_host=PRIVATE_IP` (or the host's internal DNS name): the address the dispatcher
hands to trainers, so they reach the worker over the private network.
"""

from __future__ import annotations

import ml_collections
import tensorflow as tf
from absl import flags, logging

from tfrecords.errors import ConfigError, UserError, run_binary

PROCESSING_MODES = ("distributed_epoch", "parallel_epochs")
# `config.data.service_compression` -> tf.data service `compression`: 'auto' lets the service
# compress elements (snappy) on the workers, 'none' ships them as they are.
COMPRESSIONS = {"auto": "AUTO", "none": None}
ROLES = ("dispatcher", "worker")


def check_config(data_config: ml_collections.ConfigDict) -> None:
    """Checks the service keys of `config.data`.

    Raises:
      ValueError: an unknown processing mode or compression.
    """
    mode = data_config.service_processing_mode
    if mode not in PROCESSING_MODES:
        raise ConfigError(
            f"config.data.service_processing_mode={mode!r}: use one of {PROCESSING_MODES}"
        )
    if data_config.service_compression not in COMPRESSIONS:
        raise ConfigError(
            f"config.data.service_compression={data_config.service_compression!r}: use one of "
            f"{tuple(COMPRESSIONS)}"
        )


def distribute(dataset: tf.data.Dataset, data_config: ml_collections.ConfigDict):
    """Moves `dataset`'s processing to the tf.data service when an address is configured.

    Args:
      dataset: the pipeline to run on the service's workers.
      data_config: `config.data` (service_address, service_processing_mode,
        service_compression).

    Returns:
      `dataset` unchanged when `service_address` is '', else a dataset reading its elements
      from the service.

    Raises:
      ValueError: an unknown processing mode or compression.
    """
    check_config(data_config)
    if not data_config.service_address:
        return dataset
    return dataset.apply(
        tf.data.experimental.service.distribute(
            processing_mode=data_config.service_processing_mode,
            service=data_config.service_address,
            compression=COMPRESSIONS[data_config.service_compression],
        )
    )


def start_server(
    role: str, port: int, dispatcher_address: str = "", worker_host: str = "localhost"
) -> tf.data.experimental.service.DispatchServer | tf.data.experimental.service.WorkerServer:
    """Starts a tf.data service dispatcher or worker on `port` (0 picks a free port).

    Args:
      role: 'dispatcher' or 'worker'.
      port: the server's port.
      dispatcher_address: 'host:port' of the dispatcher (workers only).
      worker_host: the host name clients use to reach this worker (workers only).

    Returns:
      The running server; `join()` serves until the process ends.

    Raises:
      UserError: an unknown role, or a worker without a dispatcher address.
    """
    service = tf.data.experimental.service
    if role == "dispatcher":
        return service.DispatchServer(service.DispatcherConfig(port=port))
    if role != "worker":
        raise UserError(f"role {role!r}: use one of {ROLES}")
    if not dispatcher_address:
        raise UserError("a worker needs the HOST:PORT address of its dispatcher")
    return service.WorkerServer(
        service.WorkerConfig(
            dispatcher_address=dispatcher_address.removeprefix("grpc://"),
            worker_address=f"{worker_host}:%port%",
            port=port,
        )
    )


def start_local_service(num_workers: int) -> tuple[str, list]:
    """A dispatcher and `num_workers` workers in this process, on loopback (benchmarks, tests).

    Returns:
      (the dispatcher's grpc:// address, the servers, dispatcher first; stop them in reverse).
    """
    dispatcher = start_server("dispatcher", 0)
    address = dispatcher.target.removeprefix("grpc://")
    workers = [start_server("worker", 0, address) for _ in range(num_workers)]
    return dispatcher.target, [dispatcher, *workers]


def main(argv: list[str]) -> None:
    """Runs one server until the process is stopped."""
    del argv  # run_binary refuses positional arguments
    args = flags.FLAGS
    server = start_server(args.role, args.port, args.dispatcher_address, args.worker_host)
    logging.info("tf.data service %s serving on port %d", args.role, args.port)
    server.join()


if __name__ == "__main__":
    # Flags only for the binary: train.py imports this module and must not inherit them.
    flags.DEFINE_enum("role", None, ROLES, "Which server to run.")
    flags.DEFINE_integer("port", None, "Port to serve on.")
    flags.DEFINE_string("dispatcher_address", "", "Workers: HOST:PORT of the dispatcher.")
    flags.DEFINE_string(
        "worker_host",
        "localhost",
        "Workers: the address the dispatcher gives clients for this worker: its private IP "
        "or internal DNS name (the servers listen on every interface, unauthenticated: keep "
        "the ports closed to all but the trainer and worker hosts).",
    )
    flags.mark_flags_as_required(["role", "port"])
    run_binary(main)
