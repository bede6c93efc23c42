"""``/v1/generations``: the collection's index generations (which is live, which builds and how far it is,
which are kept for rollback, why a cutover is blocked) and the approval of a ``cutover: Manual`` one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from faro_workloads.api.errors import error_responses
from faro_workloads.api.strict_json import StrictJsonRoute
from faro_workloads.contract.generations import (
    CutoverBlock,
    GenerationState,
    estimated_completion,
    in_state,
)
from faro_workloads.core.generation_control import GenerationController, NotBuilding, UnknownGeneration


class GenerationInfo(BaseModel):
    id: int
    state: GenerationState
    fingerprint: str = Field(..., description="The index profile's fingerprint.")
    profile: dict[str, Any] = Field(..., description="Model, chunking and extraction version.")
    summary: str = Field(..., description="The profile in one line.")
    created_at: datetime
    live_since: datetime | None
    retired_at: datetime | None
    approved: bool = Field(..., description="Approved for a Manual cutover.")
    documents: int | None = Field(None, description="Documents in the collection (building generation).")
    done: int | None = Field(None, description="Documents the building generation holds at their content.")
    eta: datetime | None = Field(None, description="When the building generation should hold them all.")


class CutoverBlockInfo(BaseModel):
    generation: int
    reason: CutoverBlock
    message: str


class GenerationsResponse(BaseModel):
    live: int | None
    wanted: str = Field(..., description="The fingerprint of the profile this service is configured with.")
    generations: list[GenerationInfo]
    blocked: CutoverBlockInfo | None = Field(None, description="Why the last cutover attempt did not happen.")


GenerationId = Annotated[int, Path(ge=1, le=1_000_000)]


def generations_router(controller: GenerationController) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["generations"], route_class=StrictJsonRoute)

    @router.get(
        "/generations",
        response_model=GenerationsResponse,
        responses=error_responses(401, 503),
        summary="List the index generations",
    )
    async def list_generations() -> GenerationsResponse:
        return await run_in_threadpool(_status, controller)

    @router.post(
        "/generations/{generation}/approve",
        status_code=202,
        response_model=GenerationsResponse,
        responses=error_responses(401, 404, 409, 422, 503),
        summary="Approve a Manual cutover to a building generation",
    )
    async def approve(generation: GenerationId) -> GenerationsResponse:
        try:
            await run_in_threadpool(controller.approve_building, generation)
        except UnknownGeneration as exc:
            raise HTTPException(404, str(exc)) from None
        except NotBuilding as exc:
            raise HTTPException(409, str(exc)) from None
        return await run_in_threadpool(_status, controller)

    return router


def _status(controller: GenerationController) -> GenerationsResponse:
    generations = controller.generations()
    building = in_state(generations, GenerationState.BUILDING)
    building_progress = controller.progress(building.id) if building is not None else None
    now = datetime.now(UTC)
    infos = []
    for generation in generations:
        progress = building_progress if generation is building else None
        infos.append(
            GenerationInfo(
                id=generation.id,
                state=generation.state,
                fingerprint=generation.fingerprint,
                profile=generation.profile.model_dump(mode="json"),
                summary=generation.profile.describe(),
                created_at=generation.created_at,
                live_since=generation.live_since,
                retired_at=generation.retired_at,
                approved=generation.approved_at is not None,
                documents=progress.documents if progress else None,
                done=progress.done if progress else None,
                eta=estimated_completion(generation, progress.documents, progress.done, now)
                if progress
                else None,
            )
        )
    live = in_state(generations, GenerationState.LIVE)
    blocked = controller.last_block
    return GenerationsResponse(
        live=live.id if live is not None else None,
        wanted=controller.wanted.fingerprint,
        generations=infos,
        blocked=CutoverBlockInfo(generation=blocked[0], reason=blocked[1].reason, message=blocked[1].message)
        if blocked
        else None,
    )
