"""Deterministic generation of realistic persona payloads for `FakeTavus`.

Everything here is a pure function of the persona index: ids come from a
bijection on 44-bit integers (so they never collide), the rest of the payload
from `random.Random(index)`. Nothing touches the global `random` state.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

__all__ = [
    "example_personas",
    "generate_persona",
    "persona_id_for",
    "replica_id_for",
    "stock_persona_ids",
]

_ID_BITS = 44  # 11 hex digits
_ID_MASK = (1 << _ID_BITS) - 1
# Odd multipliers make `i -> (i * m + c) mod 2**44` a bijection, so ids are
# unique for every index below 2**44 while still looking random.
_PID_MUL = 0x9E3779B97F4A7C15 & _ID_MASK | 1
_PID_ADD = 0x5DEECE66D
_RID_MUL = 0xC2B2AE3D27D4EB4F & _ID_MASK | 1
_RID_ADD = 0x165667B19E37


def persona_id_for(index: int) -> str:
    """Return the deterministic persona id (`"p"` + 11 hex digits) of `index`."""
    return f"p{(index * _PID_MUL + _PID_ADD) & _ID_MASK:011x}"


def replica_id_for(index: int) -> str:
    """Return the deterministic default replica id (`"r"` + 11 hex digits)."""
    return f"r{(index * _RID_MUL + _RID_ADD) & _ID_MASK:011x}"


# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

_FIRST_NAMES = (
    "Jane",
    "Emma",
    "Charlie",
    "Marcus",
    "Priya",
    "Diego",
    "Aiko",
    "Noah",
    "Zoë",
    "Olivia",
    "Mateo",
    "Amara",
    "Liam",
    "Sofía",
    "Kwame",
    "Hannah",
    "Raj",
    "Ingrid",
    "Yusuf",
    "Chloé",
    "Ben",
    "Mei",
    "Tomás",
    "Nadia",
)
_LAST_NAMES = (
    "Smith",
    "Wilson",
    "Okafor",
    "Nguyen",
    "García",
    "Müller",
    "Patel",
    "Kowalski",
    "Haddad",
    "Johansson",
    "Rossi",
    "Tanaka",
    "Brennan",
    "Silva",
)

# (role, organisation, domain, task, customer)
_ROLES: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "AI Interviewer",
        "Morrison & Blackwell",
        "consulting",
        "conduct a first-round case interview",
        "candidate",
    ),
    (
        "History Teacher",
        "Lincoln Online Academy",
        "education",
        "tutor students in US history",
        "student",
    ),
    (
        "Sales Coach",
        "PitchPro",
        "sales enablement",
        "role-play discovery calls and objection handling",
        "sales rep",
    ),
    (
        "Customer Service Agent",
        "Northwind Telecom",
        "customer support",
        "resolve billing and connectivity issues",
        "customer",
    ),
    (
        "Health Intake Nurse",
        "Brightside Clinics",
        "healthcare",
        "collect symptoms before a telehealth visit",
        "patient",
    ),
    (
        "Onboarding Specialist",
        "Ledgerly",
        "fintech",
        "walk new users through account setup",
        "new user",
    ),
    ("Language Tutor", "Parlons", "language learning", "practice conversational French", "learner"),
    (
        "Travel Concierge",
        "Wayfarer Hotels",
        "hospitality",
        "plan itineraries and handle bookings",
        "guest",
    ),
    (
        "IT Helpdesk Agent",
        "Contoso Corp",
        "internal IT",
        "troubleshoot laptops, VPN and SSO problems",
        "employee",
    ),
    ("Fitness Coach", "PulseFit", "wellness", "design weekly training plans", "member"),
    (
        "Real Estate Advisor",
        "Keystone Realty",
        "real estate",
        "qualify buyers and schedule viewings",
        "buyer",
    ),
    (
        "Tavus Researcher",
        "Tavus",
        "AI research",
        "explain conversational video interfaces",
        "visitor",
    ),
)

_TRAITS = (
    "calm",
    "warm",
    "witty",
    "patient",
    "direct",
    "encouraging",
    "curious",
    "empathetic",
    "upbeat",
    "thoughtful",
    "pragmatic",
    "playful",
)

_PROMPT_RULES = (
    "Your responses will be spoken aloud, so avoid any formatting, bullet "
    "points, or stage directions.",
    "Never refer to yourself as an AI, assistant, or language model.",
    "Keep answers short and conversational; ask one question at a time.",
    "If you do not know something, say so and offer to follow up by email.",
    "Use the person's name sparingly and naturally.",
    "Do not discuss topics unrelated to the task; politely steer back.",
    "Summarise the agreed next steps before the conversation ends.",
)

_CONTEXT_FACTS = (
    "The call was booked through the website and lasts about fifteen minutes.",
    "Most users join from a laptop in a quiet room, some from a phone.",
    "Pricing questions should be answered with the public price list only.",
    "Escalations go to a human team that replies within one business day.",
    "The user may have already spoken with a colleague earlier this week.",
    "Office hours are 9 a.m. to 6 p.m. Pacific, Monday through Friday.",
)

_DOC_TAGS = (
    "product_info",
    "company_policies",
    "faq",
    "pricing",
    "onboarding",
    "troubleshooting",
    "curriculum",
    "case_studies",
    "compliance",
    "catalog",
)

_LLM_MODELS = ("tavus-llama-4", "tavus-gpt-oss", "tavus-llama", "gpt-4o-mini")
_LLM_HOSTS = (
    "https://api.openai.com/v1",
    "https://llm.internal.example.com/v1",
    "https://api.together.xyz/v1",
    "https://inference.example.net/openai/v1",
)

# (name, description, properties, required)
_LLM_TOOLS: tuple[tuple[str, str, dict[str, Any], list[str]], ...] = (
    (
        "get_current_weather",
        "Get the current weather in a given location",
        {
            "location": {
                "type": "string",
                "description": "The city and state, e.g. San Francisco, CA",
            },
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        ["location"],
    ),
    (
        "resolve_customer_issue",
        "Log the product, issue and urgency for follow-up or resolution.",
        {
            "product": {
                "type": "string",
                "description": "The product or service the user has trouble with",
            },
            "issue_description": {"type": "string", "description": "The specific problem reported"},
            "urgency": {"type": "string", "enum": ["low", "medium", "high"]},
        },
        ["product", "issue_description", "urgency"],
    ),
    (
        "schedule_meeting",
        "Book a follow-up meeting in the shared calendar.",
        {
            "date": {"type": "string", "description": "ISO 8601 date, e.g. 2025-04-01"},
            "duration_minutes": {"type": "integer", "minimum": 15, "maximum": 120},
            "attendee_email": {"type": "string", "format": "email"},
        },
        ["date", "attendee_email"],
    ),
    (
        "lookup_order",
        "Look up an order by its number and return its status.",
        {
            "order_number": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{6}$"},
            "include_items": {"type": "boolean", "default": False},
        },
        ["order_number"],
    ),
    (
        "record_assessment",
        "Record a structured assessment of the user.",
        {
            "score": {"type": "number", "minimum": 0, "maximum": 10},
            "strengths": {"type": "array", "items": {"type": "string"}},
            "notes": {"type": "string"},
        },
        ["score"],
    ),
)

_VISUAL_QUERIES = (
    "Is the user showing an ID card?",
    "Does the user appear distressed or uncomfortable?",
    "Is there another person in the scene?",
    "Is the user looking at other screens, notes, or devices?",
    "Is the user holding up a product or document to the camera?",
    "Does the user maintain eye contact with the camera?",
)
_AUDIO_QUERIES = (
    "Does the user sound frustrated or confused?",
    "Is the user speaking quickly as if in a hurry?",
    "Is there loud background noise?",
    "Does the user sound hesitant or unsure?",
)
_VISUAL_TOOLS: tuple[tuple[str, str, str, str], ...] = (
    (
        "notify_if_id_shown",
        "Use this function when a drivers license or passport is detected in the "
        "image with high confidence.",
        "id_type",
        "best guess on what type of ID it is",
    ),
    (
        "user_emotional_state",
        "Report the user's emotional state as inferred from body language.",
        "emotional_state",
        "Inferred emotion, e.g. frustrated, calm, confused",
    ),
    (
        "product_shown",
        "Call when the user holds a product up to the camera.",
        "product_name",
        "best guess of the product being shown",
    ),
)
_AUDIO_TOOLS: tuple[tuple[str, str, str, str], ...] = (
    (
        "escalate_to_human",
        "Escalate the conversation to a human agent when user frustration is detected",
        "reason",
        "The reason for escalation",
    ),
    (
        "flag_background_noise",
        "Ask the user to move somewhere quieter when noise hurts transcription.",
        "noise_type",
        "What kind of noise was heard",
    ),
)

_EMOTIONS = (
    "positivity:high",
    "positivity",
    "curiosity",
    "surprise:low",
    "sadness:lowest",
    "anger:lowest",
)
_CARTESIA_VOICES = (
    "a0e99841-438c-4a64-b679-ae501e7d6091",
    "694f9389-aac1-45b6-b726-9d9369183238",
    "79a125e8-cd45-4c13-8a67-188112f4dd22",
    "b7d50908-b17c-442d-ad8d-810c63997ed9",
)
_ELEVEN_VOICES = ("21m00Tcm4TlvDq8ikWAM", "EXAVITQu4vr4xnSDxMaL", "pNInz6obpgDQGcFmaJgB")
_HOTWORDS = ("Tavus, Raven, Sparrow, Phoenix", "CVI, persona, replica", "")

_EPOCH = datetime(2024, 6, 1, tzinfo=UTC)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _function_tool(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
            },
        },
    }


def _simple_tool(spec: tuple[str, str, str, str]) -> dict[str, Any]:
    name, description, param, param_desc = spec
    return _function_tool(
        name, description, {param: {"type": "string", "description": param_desc}}, [param]
    )


def generate_persona(index: int) -> dict[str, Any]:
    """Build the persona document for `index`; same index, same document."""
    rng = random.Random(index)
    role, org, domain, task, customer = _ROLES[index % len(_ROLES)]
    first = rng.choice(_FIRST_NAMES)
    last = rng.choice(_LAST_NAMES)
    traits = rng.sample(_TRAITS, 2)

    rules = " ".join(rng.sample(_PROMPT_RULES, 2))
    article = "an" if traits[0][0] in "aeiou" else "a"
    system_prompt = (
        f"You are {first} {last}, {article} {traits[0]} and {traits[1]} {role} at "
        f"{org}. Your job is to {task} for each {customer} you meet on a video "
        f"call. Open with a friendly greeting, learn what the {customer} hopes to "
        f"get out of the conversation, then guide them step by step. {rules}"
    )
    context = f"{org} works in {domain}. " + " ".join(rng.sample(_CONTEXT_FACTS, rng.randint(1, 2)))

    created = _EPOCH + timedelta(
        seconds=rng.randint(0, 300 * 86400), microseconds=rng.randint(0, 999_999)
    )
    updated = created + timedelta(
        seconds=rng.randint(0, 30 * 86400), microseconds=rng.randint(0, 999_999)
    )

    llm_tools = [_function_tool(*spec) for spec in rng.sample(_LLM_TOOLS, rng.randint(1, 2))]
    llm_key = f"sk-fake-{_hex(rng, 20)}"
    llm: dict[str, Any] = {
        "model": rng.choice(_LLM_MODELS),
        "base_url": rng.choice(_LLM_HOSTS),
        "api_key": llm_key,
        "tools": llm_tools,
        "headers": {"Authorization": f"Bearer {llm_key}"},
        "extra_body": {
            "temperature": round(rng.uniform(0.2, 1.2), 2),
            "top_p": round(rng.uniform(0.5, 1.0), 2),
        },
    }

    engine = "cartesia" if rng.random() < 0.7 else "elevenlabs"
    if engine == "cartesia":
        voice = rng.choice(_CARTESIA_VOICES)
        voice_settings: dict[str, Any] = {
            "speed": round(rng.uniform(0.4, 1.2), 2),
            "emotion": rng.sample(_EMOTIONS, 2),
        }
        model_name = rng.choice(("sonic-3", "sonic-2"))
    else:
        voice = rng.choice(_ELEVEN_VOICES)
        voice_settings = {
            "speed": round(rng.uniform(0.7, 1.2), 2),
            "stability": round(rng.random(), 2),
            "similarity_boost": round(rng.random(), 2),
            "use_speaker_boost": rng.random() < 0.5,
        }
        model_name = rng.choice(("eleven_turbo_v2_5", "eleven_multilingual_v2"))
    tts: dict[str, Any] = {
        "api_key": f"tts-fake-{_hex(rng, 16)}",
        "tts_engine": engine,
        "external_voice_id": voice,
        "voice_settings": voice_settings,
        "tts_emotion_control": rng.random() < 0.8,
        "tts_model_name": model_name,
    }

    visual_tool = _simple_tool(rng.choice(_VISUAL_TOOLS))
    audio_tool = _simple_tool(rng.choice(_AUDIO_TOOLS))
    perception: dict[str, Any] = {
        "perception_model": "raven-1" if rng.random() < 0.75 else "raven-0",
        "visual_awareness_queries": rng.sample(_VISUAL_QUERIES, 2),
        "visual_tool_prompt": (
            f"You have a tool named `{visual_tool['function']['name']}`. "
            "Use it only when you are confident."
        ),
        "visual_tools": [visual_tool],
        "audio_awareness_queries": rng.sample(_AUDIO_QUERIES, 2),
        "audio_tool_prompt": (
            f"You have a tool named `{audio_tool['function']['name']}`. "
            "Use it when the tone calls for it."
        ),
        "audio_tools": [audio_tool],
    }

    stt: dict[str, Any] = {
        "stt_engine": rng.choice(("tavus-turbo", "tavus-advanced")),
        "hotwords": rng.choice(_HOTWORDS),
    }

    return {
        "persona_id": persona_id_for(index),
        "persona_name": f"{role} #{index}",
        "pipeline_mode": "full",
        "system_prompt": system_prompt,
        "context": context,
        "default_replica_id": replica_id_for(index),
        "document_ids": [f"d{_hex(rng, 11)}" for _ in range(rng.randint(0, 2))],
        "document_tags": rng.sample(_DOC_TAGS, rng.randint(0, 3)),
        "layers": {"llm": llm, "tts": tts, "perception": perception, "stt": stt},
        "created_at": _iso(created),
        "updated_at": _iso(updated),
    }


# (persona_id, persona_name, generator index, type): the API reference's example id, then
# Tavus's stock personas as its docs publish them (bodies generated, names and ids real).
_EXAMPLES: tuple[tuple[str, str, int, Literal["user", "system"]], ...] = (
    ("pcb7a34da5fe", "Life Coach", 5, "user"),
    ("p48fdf065d6b", "Tavus Researcher", 8, "system"),
    ("pe13ed370726", "AI Interviewer", 0, "system"),
    ("pc55154f229a", "History Teacher", 1, "system"),
    ("pdced222244b", "Sales Coach", 2, "system"),
)


def stock_persona_ids() -> list[str]:
    """The ids `serve` (and `tavus-async mock-server`) adds to the generated ones: the API
    reference's example and Tavus's stock personas, which the README and docs use."""
    return [persona_id for persona_id, *_ in _EXAMPLES]


def example_personas() -> list[tuple[dict[str, Any], Literal["user", "system"]]]:
    """The personas the README and docs name, each with its type, for `serve`."""
    personas = []
    for persona_id, name, index, persona_type in _EXAMPLES:
        persona = generate_persona(index)
        persona.update(persona_id=persona_id, persona_name=name)
        personas.append((persona, persona_type))
    return personas
