"""OpenAPI post-processing hooks (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``)."""

from typing import Any


def strip_trailing_slashes(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Document the canonical paths (``/api/visitors/today``); the slashed form also answers."""
    result["paths"] = {
        (path.rstrip("/") or "/"): item for path, item in result.get("paths", {}).items()
    }
    return result
