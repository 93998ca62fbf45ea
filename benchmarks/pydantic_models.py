"""Pydantic v2 models of the persona schema, mirroring `tavus_async.models` field for field.

This is what a typical httpx+pydantic SDK would define: every field but `persona_id` optional,
unknown fields ignored (pydantic's default), lax validation.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = [
    "Envelope",
    "LLMLayer",
    "Layers",
    "PerceptionLayer",
    "Persona",
    "STTLayer",
    "TTSLayer",
    "Tool",
    "ToolFunction",
]


class ToolFunction(BaseModel):
    """An OpenAI-style function declaration."""

    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(BaseModel):
    """A tool, in either the `{"type", "function"}` or the flat `{"name", ...}` shape."""

    type: str | None = None
    function: ToolFunction | None = None
    name: str | None = None
    description: str | None = None


class LLMLayer(BaseModel):
    """The language model layer."""

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    tools: list[Tool] | None = None
    headers: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None
    speculative_inference: bool | None = None


class TTSLayer(BaseModel):
    """The text-to-speech layer."""

    api_key: str | None = None
    tts_engine: str | None = None
    external_voice_id: str | None = None
    voice_settings: dict[str, Any] | None = None
    tts_emotion_control: bool | None = None
    tts_model_name: str | None = None


class PerceptionLayer(BaseModel):
    """The perception layer, with the legacy raven-0 names."""

    perception_model: str | None = None
    visual_awareness_queries: list[str] | None = None
    visual_tool_prompt: str | None = None
    visual_tools: list[Tool] | None = None
    audio_awareness_queries: list[str] | None = None
    audio_tool_prompt: str | None = None
    audio_tools: list[Tool] | None = None
    ambient_awareness_queries: list[str] | None = None
    perception_tool_prompt: str | None = None
    perception_tools: list[Tool] | None = None
    tool_prompt: str | None = None


class STTLayer(BaseModel):
    """The speech-to-text layer."""

    stt_engine: str | None = None
    hotwords: str | None = None
    participant_pause_sensitivity: str | None = None
    participant_interrupt_sensitivity: str | None = None
    smart_turn_detection: bool | None = None


class Layers(BaseModel):
    """The persona's pipeline layers."""

    llm: LLMLayer | None = None
    tts: TTSLayer | None = None
    perception: PerceptionLayer | None = None
    stt: STTLayer | None = None


class Persona(BaseModel):
    """A Tavus persona."""

    persona_id: str
    persona_name: str | None = None
    system_prompt: str | None = None
    context: str | None = None
    pipeline_mode: str | None = None
    default_replica_id: str | None = None
    document_ids: list[str] | None = None
    document_tags: list[str] | None = None
    layers: Layers | None = None
    created_at: str | None = None
    updated_at: str | None = None


class Envelope(BaseModel):
    """The response shape `{"data": [persona]}`."""

    data: list[Persona] | Persona | None = None
