"""Notices as emails: a subject, a plain-text part and an HTML part, from Jinja2 templates.

Each notice has two templates named after it (`payment_failed.txt`, `payment_failed.html`,
in `templates/email/`), each defining a `subject` block and a `body`. A folder named by
`PAYWIRE_EMAIL_TEMPLATES` comes first: a file of the same name there replaces the bundled one
(`base.html` included, for the whole look). The product's name, logo, colours and support
address come from the settings; the HTML's stylesheet is inlined into `style` attributes
(css-inline), since many mail clients drop `<style>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import css_inline
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape

from paywire.config import Settings

_inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def money(amount: Any, currency: Any) -> str:
    """`12.00 USD`; the amount in the currency's smallest unit (two decimals assumed)."""
    if not isinstance(amount, int):
        return "the amount due"
    return f"{amount / 100:.2f} {str(currency or '').upper()}".strip()


def day(unix: Any) -> str:
    if not isinstance(unix, int):
        return ""
    return datetime.fromtimestamp(unix, UTC).strftime("%-d %B %Y")


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class MailRenderer:
    """Renders notices with the product's branding; one per process (templates are cached)."""

    def __init__(self, settings: Settings) -> None:
        loaders: list[Any] = []
        if settings.email_templates is not None:
            loaders.append(FileSystemLoader(str(settings.email_templates)))
        loaders.append(PackageLoader("paywire.reactions", "templates/email"))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=False,
            keep_trailing_newline=False,
        )
        self.product = {
            "name": settings.product_name,
            "logo_url": settings.product_logo_url,
            "color": settings.brand_color,
            "text_color": settings.brand_text_color,
            "support_email": settings.support_email or settings.smtp_sender,
            "app_url": settings.app_url,
        }

    def render(self, template: str, values: dict[str, Any]) -> RenderedMail:
        context = {"product": self.product, **values}
        text_template = self.env.get_template(f"{template}.txt")
        html_template = self.env.get_template(f"{template}.html")
        subject = "".join(text_template.blocks["subject"](text_template.new_context(context))).strip()
        text = text_template.render(context).strip() + "\n"
        html = _inliner.inline(html_template.render(context))
        return RenderedMail(" ".join(subject.split()), text, html)
