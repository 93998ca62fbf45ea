"""The persona and PAL commands: get, list, create, patch, delete."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

from .. import InvalidPatchError, Page
from .._paging import iterate_pages
from ..client import AsyncTavus
from ..errors import InvalidPersonaIdError, TavusError
from ..models import Persona
from ..resources import Pals, Personas, validate_persona_id
from ._input import read_json, stdin_ids
from ._output import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Failures,
    emit,
    encode,
    line,
    report,
    write_all,
)
from ._progress import Bar, progress_bar, set_total


def _resource(client: AsyncTavus, args: argparse.Namespace) -> Personas | Pals:
    return client.pals if args.resource == "pals" else client.personas


def _id_name(args: argparse.Namespace) -> str:
    return "pal_id" if args.resource == "pals" else "persona_id"


def _unit(args: argparse.Namespace) -> str:
    return "PALs" if args.resource == "pals" else "personas"


def _client(args: argparse.Namespace) -> AsyncTavus:
    return AsyncTavus(
        api_key=args.api_key,
        base_url=args.base_url,
        timeout=args.timeout,
        max_retries=args.max_retries,
    )


async def run_get(args: argparse.Namespace) -> int:
    ids: list[str] | AsyncIterator[str]
    ids = stdin_ids() if args.ids == ["-"] else list(args.ids)
    if args.format != "ndjson" and not isinstance(ids, list):
        ids = [i async for i in ids]  # printed in input order: every id is needed first
    bar = progress_bar(len(ids) if isinstance(ids, list) else None, _unit(args), sys.stderr)
    failures = Failures()
    try:
        async with _client(args) as client:
            resource = _resource(client, args)
            if isinstance(ids, list) and args.format != "ndjson":
                await _get_collected(resource, ids, args, bar, failures)
            else:
                await _get_streamed(resource, ids, args, bar, failures)
    finally:
        bar.close()
    return failures.exit_code()


async def _get_streamed(
    resource: Personas | Pals,
    ids: list[str] | AsyncIterator[str],
    args: argparse.Namespace,
    bar: Bar,
    failures: Failures,
) -> None:
    """NDJSON: each persona printed as it arrives; stops at a refused key."""
    stream = resource.iter_many(ids, concurrency=args.concurrency)
    async with contextlib.aclosing(stream) as results:
        async for persona_id, result in results:
            bar.update()
            if isinstance(result, Persona):
                emit(sys.stdout, line(result))
                continue
            failures.add(persona_id, result)
            if failures.refused:
                return


async def _get_collected(
    resource: Personas | Pals,
    ids: list[str],
    args: argparse.Namespace,
    bar: Bar,
    failures: Failures,
) -> None:
    """`json`/`table`: every persona fetched first, then printed in input order."""
    valid = []
    for persona_id in ids:
        try:  # report a bad id like any other failure instead of aborting
            valid.append(validate_persona_id(persona_id, _id_name(args)))
        except InvalidPersonaIdError as exc:
            bar.update()
            failures.add(persona_id, exc)
    results = await resource.get_many(
        valid,
        concurrency=args.concurrency,
        return_exceptions=True,
        on_progress=lambda done, total: bar.update(),
    )
    good: list[Persona] = []
    for persona_id, result in zip(valid, results, strict=True):
        if isinstance(result, Persona):
            good.append(result)
        else:
            failures.add(persona_id, result)
    write_all(good, args, sys.stdout)


async def run_list(args: argparse.Namespace) -> int:
    bar = progress_bar(None, _unit(args), sys.stderr)
    out = sys.stdout
    collected: list[Persona] = []

    async def fetch_page(client: AsyncTavus, page: int, limit: int) -> Page[Persona]:
        if args.resource == "pals":
            result: Page[Persona] = await client.pals.list_page(
                page=page, limit=limit, pal_type=args.type
            )
        else:
            result = await client.personas.list_page(page=page, limit=limit, persona_type=args.type)
        set_total(bar, result.total_count)
        return result

    try:
        async with _client(args) as client:
            # The paging of `client.personas.list`, with the total shown as soon as known.
            listing = iterate_pages(
                lambda page, limit: fetch_page(client, page, limit),
                page_size=args.page_size,
                id_of=lambda persona: persona.persona_id,
            )
            async for persona in listing:
                bar.update()
                if args.format == "ndjson":
                    emit(out, line(persona))
                else:
                    collected.append(persona)
    except TavusError as exc:
        print(f"error: listing {args.resource}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        bar.close()
    if args.format != "ndjson":
        write_all(collected, args, out)
    return EXIT_OK


def _usage_error(message: object) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


async def run_create(args: argparse.Namespace) -> int:
    try:
        fields = read_json(args.file)
        if not isinstance(fields, dict):
            raise ValueError(f"{args.file} must hold a JSON object of the fields to create")
    except ValueError as exc:
        return _usage_error(exc)
    face = None
    if args.resource == "pals":
        face = fields.pop("default_face_id", None)
        if not isinstance(face, str) or not face:
            return _usage_error("a PAL needs default_face_id (a non-empty string)")
    async with _client(args) as client:
        try:
            if face is not None:
                created = await client.pals.create(default_face_id=face, extra_body=fields)
            else:
                created = await client.personas.create(extra_body=fields)
        except TavusError as exc:
            print(f"error: creating: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    emit(sys.stdout, line(created))
    return EXIT_OK


async def run_patch(args: argparse.Namespace) -> int:
    try:
        operations = read_json(args.file)
        if not isinstance(operations, list):
            raise InvalidPatchError(f"{args.file} must hold a JSON array of patch operations")
    except ValueError as exc:  # InvalidPatchError is one too
        return _usage_error(exc)
    async with _client(args) as client:
        try:
            if args.resource == "pals":
                changed = await client.pals.patch(args.id, operations, force=args.force)
            else:
                changed = await client.personas.patch(args.id, operations)
        except (InvalidPatchError, InvalidPersonaIdError) as exc:
            return _usage_error(exc)
        except TavusError as exc:
            report(args.id, exc)
            return EXIT_FAILED
    emit(sys.stdout, encode({_id_name(args): args.id, "changed": changed}).decode() + "\n")
    return EXIT_OK


async def run_delete(args: argparse.Namespace) -> int:
    failures = Failures()
    gate = asyncio.Semaphore(args.concurrency)

    async def delete(resource: Personas | Pals, persona_id: str) -> None:
        async with gate:
            if failures.refused:
                return
            try:
                await resource.delete(persona_id)
            except TavusError as exc:
                failures.add(persona_id, exc)
            else:
                emit(sys.stdout, persona_id + "\n")

    async with _client(args) as client:
        resource = _resource(client, args)
        await asyncio.gather(*(delete(resource, persona_id) for persona_id in args.ids))
    return failures.exit_code()
