"""`aigis serve` started from a script (serve_e2e.py, upstream_kserve.py,
bench/serve_bench.py): the process and the JSON document it prints once it listens."""

import json
import subprocess


def start_serve(aigis, cwd, env, log=None):
    """`aigis --json serve --listen 127.0.0.1:0` in `cwd`.

    Returns the process (its stdout a pipe: `--json serve` prints reload events there)
    and the start document (`listening`, and `metrics` and `admin` when configured).
    stderr goes to the file `log` when given, else to a pipe. If the server stops or
    prints an error instead, it is killed and RuntimeError says why.
    """
    stderr = open(log, "w") if log else subprocess.PIPE
    proc = subprocess.Popen([aigis, "--json", "serve", "--listen", "127.0.0.1:0"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)

    def fail(what):
        proc.kill()
        proc.wait()
        said = open(log).read()[-3000:] if log else proc.stderr.read()
        raise RuntimeError(f"aigis serve {what}: {said}")

    # The document may span several lines.
    text = ""
    while True:
        line = proc.stdout.readline()
        if not line:
            fail("stopped")
        text += line
        try:
            started = json.loads(text)
            break
        except json.JSONDecodeError:
            continue
    if "listening" not in started:
        fail(f"did not start ({json.dumps(started)})")
    return proc, started
