"""Drives a running Batch Gateway with the official `openai` Python SDK, a client this project did not write.

    python driver.py <scenario> [argument]

The gateway's /v1 base URL and a tenant's key come from GATEWAY_URL and GATEWAY_API_KEY; MOCK_MODEL
names the model of the built-in mock route and SLOW_MODEL one routed to a slow upstream (cancel only).
Each scenario makes its SDK calls and prints one JSON object on stdout for test/openai-python.e2e-spec.ts
to assert on: the gateway's answers as the SDK parsed them, and the SDK's error classes as names.

The client validates every answer against the SDK's own models (`_strict_response_validation`), so a
field of the wrong type or a missing required field raises here instead of being read leniently; the
bodies inside output files are validated with the models of their endpoint. Anything unexpected ends
the run with a traceback on stderr and a non-zero exit.
"""

import json
import os
import sys
import time

import openai
import pydantic
from openai.types import Batch, Completion, CreateEmbeddingResponse, FileObject, ModerationCreateResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

BASE_URL = os.environ["GATEWAY_URL"]
API_KEY = os.environ["GATEWAY_API_KEY"]
MOCK_MODEL = os.environ.get("MOCK_MODEL", "batch-test-model")
SLOW_MODEL = os.environ.get("SLOW_MODEL", "slow-model")

TERMINAL = {"completed", "failed", "expired", "cancelled"}
WAIT_SECONDS = 90
POLL_SECONDS = 0.05

# The body of request line i for each endpoint: the model plus the field that endpoint requires.
BODIES = {
    "/v1/chat/completions": lambda i: {"messages": [{"role": "user", "content": f"Say hello number {i}"}]},
    "/v1/responses": lambda i: {"input": f"Tell me fact number {i}"},
    # The last embeddings line asks for two vectors at once.
    "/v1/embeddings": lambda i: {"input": f"embed text number {i}" if i < 2 else [f"first text {i}", f"second text {i}"]},
    "/v1/completions": lambda i: {"prompt": f"Once upon a time, number {i}"},
    "/v1/moderations": lambda i: {"input": f"a harmless sentence number {i}"},
}

# The SDK model an answer of each endpoint must validate as.
ANSWER_MODELS = {
    "/v1/chat/completions": ChatCompletion,
    "/v1/responses": Response,
    "/v1/embeddings": CreateEmbeddingResponse,
    "/v1/completions": Completion,
    "/v1/moderations": ModerationCreateResponse,
}


def client(api_key=API_KEY):
    return openai.OpenAI(api_key=api_key, base_url=BASE_URL, max_retries=0, timeout=30, _strict_response_validation=True)


def request_lines(endpoint, count, model=MOCK_MODEL, prefix="req", body=None):
    body = body or BODIES[endpoint]
    return [
        {"custom_id": f"{prefix}-{i}", "method": "POST", "url": endpoint, "body": {"model": model, **body(i)}}
        for i in range(count)
    ]


def jsonl(lines):
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode("utf-8")


def upload(c, lines, **params) -> FileObject:
    return c.files.create(file=("requests.jsonl", jsonl(lines), "application/jsonl"), purpose="batch", **params)


def create_batch(c, file_id, endpoint="/v1/chat/completions", **params) -> Batch:
    return c.batches.create(input_file_id=file_id, endpoint=endpoint, completion_window="24h", **params)


def wait_for(c, batch_id, done=lambda b: b.status in TERMINAL) -> Batch:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        batch = c.batches.retrieve(batch_id)
        if done(batch):
            return batch
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch_id} still {batch.status} {batch.request_counts} after {WAIT_SECONDS} s")
        time.sleep(POLL_SECONDS)


def result_lines(c, file_id):
    if not file_id:
        return []
    text = c.files.content(file_id).text
    return [json.loads(line) for line in text.splitlines() if line]


def refusal(call):
    """The SDK error a call raises, as plain data; None when it does not raise."""
    try:
        call()
    except openai.APIStatusError as e:
        return error_view(e)
    return None


def error_view(e: openai.APIStatusError):
    # The SDK keeps the answer's `error` object as the body; its own `message` prefixes the status.
    body = e.body if isinstance(e.body, dict) else {}
    return {
        "class": type(e).__name__,
        "status": e.status_code,
        "code": e.code,
        "param": e.param,
        "type": e.type,
        "message": body.get("message", e.message),
    }


def batch_view(b: Batch):
    return {
        "id": b.id,
        "status": b.status,
        "endpoint": b.endpoint,
        "model": b.model,
        "created_at": b.created_at,
        "output_file_id": b.output_file_id,
        "error_file_id": b.error_file_id,
        "cancelling_at": b.cancelling_at,
        "cancelled_at": b.cancelled_at,
        "request_counts": b.request_counts.to_dict() if b.request_counts else None,
        "usage": b.usage.to_dict() if b.usage else None,
        # Python types after the SDK parsed them, e.g. {"input_tokens": "int", ...}
        "usage_types": usage_types(b.usage),
    }


def usage_types(usage):
    if usage is None:
        return None
    return {
        "input_tokens": type(usage.input_tokens).__name__,
        "output_tokens": type(usage.output_tokens).__name__,
        "total_tokens": type(usage.total_tokens).__name__,
        "cached_tokens": type(usage.input_tokens_details.cached_tokens).__name__,
        "reasoning_tokens": type(usage.output_tokens_details.reasoning_tokens).__name__,
    }


def file_view(f: FileObject):
    return {"id": f.id, "purpose": f.purpose, "status": f.status, "created_at": f.created_at, "expires_at": f.expires_at, "bytes": f.bytes}


def answer_view(endpoint, line):
    """One output line, its body validated with the SDK's model for the endpoint."""
    response = line.get("response") or {}
    body = response.get("body")
    invalid = None
    try:
        ANSWER_MODELS[endpoint].model_validate(body)
    except pydantic.ValidationError as e:
        invalid = str(e)
    return {
        "keys": sorted(line.keys()),
        "id": line.get("id"),
        "custom_id": line.get("custom_id"),
        "status_code": response.get("status_code"),
        "request_id": response.get("request_id"),
        "error": line.get("error"),
        "object": body.get("object") if isinstance(body, dict) else None,
        "model": body.get("model") if isinstance(body, dict) else None,
        "invalid": invalid,
    }


# ---- scenarios ----


def endpoint_scenario(endpoint):
    """Three lines on one endpoint through upload, create, polling and download."""
    c = client()
    lines = request_lines(endpoint, 3, prefix=endpoint.strip("/").replace("/", "-"))
    uploaded = upload(c, lines)
    created = create_batch(c, uploaded.id, endpoint)
    done = wait_for(c, created.id)
    output_file = c.files.retrieve(done.output_file_id) if done.output_file_id else None
    return {
        "uploaded": file_view(uploaded),
        "created": batch_view(created),
        "done": batch_view(done),
        "output_file": file_view(output_file) if output_file else None,
        "output": [answer_view(endpoint, line) for line in result_lines(c, done.output_file_id)],
        "errors": result_lines(c, done.error_file_id),
        "custom_ids": [line["custom_id"] for line in lines],
    }


def file_retention_scenario():
    """expires_after on uploads: a chosen lifetime, the 30-day default, and the bounds."""
    c = client()
    lines = request_lines("/v1/chat/completions", 1)
    chosen = upload(c, lines, expires_after={"anchor": "created_at", "seconds": 7200})
    default = upload(c, lines)
    return {
        "chosen": file_view(chosen),
        "chosen_retrieved": file_view(c.files.retrieve(chosen.id)),
        "default": file_view(default),
        "too_short": refusal(lambda: upload(c, lines, expires_after={"anchor": "created_at", "seconds": 3599})),
        "too_long": refusal(lambda: upload(c, lines, expires_after={"anchor": "created_at", "seconds": 2592001})),
    }


def output_retention_scenario():
    """output_expires_after on batches: a chosen lifetime for the output file, the default, the bounds."""
    c = client()
    uploaded = upload(c, request_lines("/v1/chat/completions", 2))
    try:
        chosen = create_batch(c, uploaded.id, output_expires_after={"anchor": "created_at", "seconds": 3600})
    except openai.APIStatusError as e:
        return {"chosen_refused": error_view(e)}
    default = create_batch(c, uploaded.id)
    chosen_done = wait_for(c, chosen.id)
    default_done = wait_for(c, default.id)
    return {
        "chosen": batch_view(chosen_done),
        "chosen_output": file_view(c.files.retrieve(chosen_done.output_file_id)) if chosen_done.output_file_id else None,
        "default": batch_view(default_done),
        "default_output": file_view(c.files.retrieve(default_done.output_file_id)) if default_done.output_file_id else None,
        "too_short": refusal(
            lambda: create_batch(c, uploaded.id, output_expires_after={"anchor": "created_at", "seconds": 3599})
        ),
    }


def pagination_scenario():
    """Five batches and their files, listed two at a time with the SDK's auto-pagination."""
    c = client()
    input_ids, batch_ids = [], []
    for i in range(5):
        uploaded = upload(c, request_lines("/v1/chat/completions", 1, prefix=f"page-{i}"))
        input_ids.append(uploaded.id)
        batch_ids.append(create_batch(c, uploaded.id).id)
    first = c.batches.list(limit=2)
    batches_seen = [b.id for b in c.batches.list(limit=2)]
    batch_pages = [[b.id for b in page.data] for page in c.batches.list(limit=2).iter_pages()]
    # Output files appear as the batches end: list every file once they all have.
    output_ids = [wait_for(c, batch_id).output_file_id for batch_id in batch_ids]
    all_files = list(c.files.list(limit=2))
    return {
        "batch_ids": batch_ids,
        "input_ids": input_ids,
        "output_ids": output_ids,
        "first_page": {"ids": [b.id for b in first.data], "has_more": first.has_more},
        "batches_seen": batches_seen,
        "batch_pages": batch_pages,
        "files_seen": [{"id": f.id, "purpose": f.purpose, "created_at": f.created_at} for f in all_files],
        "batch_files_seen": [f.id for f in c.files.list(limit=2, purpose="batch")],
        "batch_files_oldest_first": [f.id for f in c.files.list(limit=2, purpose="batch", order="asc")],
        "fine_tune": listing_or_refusal(lambda: c.files.list(purpose="fine-tune")),
    }


def listing_or_refusal(call):
    """A list page's ids and has_more, or the refusal the call raised instead."""
    try:
        page = call()
    except openai.APIStatusError as e:
        return {"refused": error_view(e)}
    return {"ids": [item.id for item in page.data], "has_more": page.has_more}


def cancel_scenario(count):
    """A batch on the slow route, cancelled once some of its lines have answered."""
    c = client()
    lines = request_lines(
        "/v1/chat/completions",
        int(count),
        model=SLOW_MODEL,
        prefix="slow",
        body=lambda i: {"messages": [{"role": "user", "content": f"slow line {i} #latency=150"}]},
    )
    created = create_batch(c, upload(c, lines).id)
    running = wait_for(c, created.id, lambda b: b.status in TERMINAL or (b.request_counts and b.request_counts.completed >= 2))
    cancelled = c.batches.cancel(created.id)
    again = c.batches.cancel(created.id)
    done = wait_for(c, created.id)
    # The rerun extension, through the SDK's generic post: a new batch of the lines the cancel left unrun.
    rerun = c.post(f"/batches/{created.id}/rerun", body={"error_codes": ["batch_cancelled"]}, cast_to=Batch)
    rerun_done = wait_for(c, rerun.id)
    return {
        "total": len(lines),
        "rerun": batch_view(rerun),
        "rerun_metadata": rerun.metadata,
        "rerun_done": batch_view(rerun_done),
        "rerun_output": [l["custom_id"] for l in result_lines(c, rerun_done.output_file_id)],
        "running": batch_view(running),
        "cancel": batch_view(cancelled),
        "cancel_again": batch_view(again),
        "done": batch_view(done),
        "output": [{"custom_id": l["custom_id"], "status_code": (l.get("response") or {}).get("status_code")} for l in result_lines(c, done.output_file_id)],
        "errors": [{"custom_id": l["custom_id"], "response": l.get("response"), "error": l.get("error")} for l in result_lines(c, done.error_file_id)],
    }


def errors_scenario():
    """The SDK's error classes for the gateway's refusals."""
    c = client()
    good = request_lines("/v1/chat/completions", 1)
    mismatched = upload(c, request_lines("/v1/embeddings", 2, prefix="embed"))
    unknown_model = upload(c, request_lines("/v1/chat/completions", 2, model="no-such-model"))
    completed = wait_for(c, create_batch(c, upload(c, good).id).id)
    return {
        "unknown_batch": refusal(lambda: c.batches.retrieve("batch_doesnotexist0000000000")),
        "unknown_file": refusal(lambda: c.files.retrieve("file-doesnotexist0000000000")),
        "bad_key": refusal(lambda: client("sk-not-a-key-of-this-gateway").batches.list()),
        "not_json": refusal(lambda: upload(c, [good[0], "{this is not json"])),
        "url_mismatch": refusal(lambda: create_batch(c, mismatched.id, "/v1/chat/completions")),
        "unknown_model": refusal(lambda: create_batch(c, unknown_model.id)),
        "completed_status": completed.status,
        "cancel_completed": refusal(lambda: c.batches.cancel(completed.id)),
        "rerun_completed": refusal(lambda: c.post(f"/batches/{completed.id}/rerun", body={}, cast_to=Batch)),
    }


SCENARIOS = {
    "endpoint": endpoint_scenario,
    "file-retention": file_retention_scenario,
    "output-retention": output_retention_scenario,
    "pagination": pagination_scenario,
    "cancel": cancel_scenario,
    "errors": errors_scenario,
}


def main(argv):
    if len(argv) < 2 or argv[1] not in SCENARIOS:
        sys.exit(f"usage: driver.py <{'|'.join(SCENARIOS)}> [argument]")
    result = SCENARIOS[argv[1]](*argv[2:])
    print(json.dumps({"sdk_version": openai.__version__, **result}))


if __name__ == "__main__":
    main(sys.argv)
