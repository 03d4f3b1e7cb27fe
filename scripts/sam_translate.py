"""Writes the CloudFormation that the SAM transform makes of a template, so cfn-lint can check it too.

cfn-lint checks SAM resources against SAM's own schemas without running the transform, so what
CloudFormation really receives (generated roles, permissions, event sources, references to them)
goes unchecked. This runs the same translator as ``sam validate``, offline: managed policy names come
from the translator's bundled map, never from IAM, so no credentials or network are needed.

Runs in .venv-sam (the translator is aws-sam-cli's): ``.venv-sam/bin/python scripts/sam_translate.py
template.yaml .aws-sam/translated-template.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path


class _OfflinePolicies:
    """Stands in for samtranslator's ManagedPolicyLoader, which would ask IAM for unknown names."""

    def load(self) -> dict[str, str]:
        return {}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} TEMPLATE OUTPUT", file=sys.stderr)
        return 2
    from samcli.commands.validate.lib.exceptions import InvalidSamDocumentException
    from samcli.lib.translate.sam_template_validator import SamTemplateValidator
    from samcli.yamlhelper import yaml_parse

    source, target = Path(argv[1]), Path(argv[2])
    template = yaml_parse(source.read_text(encoding="utf-8"))
    validator = SamTemplateValidator(template, _OfflinePolicies(), region="us-east-1")  # type: ignore[arg-type]
    try:
        translated = validator.get_translated_template_if_valid()
    except InvalidSamDocumentException as exc:
        print(f"{source}: the SAM transform failed: {exc}", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(translated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
