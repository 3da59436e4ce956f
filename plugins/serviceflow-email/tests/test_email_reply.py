"""What the writer wrote: quoted messages, reply headers and signatures are left out of a contact's text."""

from __future__ import annotations

import pytest
from serviceflow_email.reply import html_to_text, latest_reply


def test_a_gmail_reply_keeps_the_answer_and_drops_the_quoted_message() -> None:
    body = (
        "A plumber will come tomorrow at 10:00.\r\n"
        "\r\n"
        "On Mon, 6 May 2024 at 09:00, Dana Park <dana@customer.example> wrote:\r\n"
        "> Why haven't you sent anyone?\r\n"
        ">\r\n"
        "> Dana\r\n"
    )
    assert latest_reply(body) == "A plumber will come tomorrow at 10:00."


def test_a_reply_header_wrapped_over_two_lines_is_still_found() -> None:
    body = (
        "Thanks, 10:00 works.\n\n"
        "On Mon, May 6, 2024 at 10:02 AM Jake Rivera\n"
        "<jake@acme.example> wrote:\n"
        "A plumber will come tomorrow.\n"
    )
    assert latest_reply(body) == "Thanks, 10:00 works."


@pytest.mark.parametrize(
    "header",
    [
        "Am 06.05.2024 um 09:00 schrieb Dana Park <dana@customer.example>:",
        "Le lun. 6 mai 2024 à 09:00, Dana Park <dana@customer.example> a écrit :",
        "El lun, 6 may 2024 a las 9:00, Dana Park (<dana@customer.example>) escribió:",
        "Op ma 6 mei 2024 om 09:00 schreef Dana Park <dana@customer.example>:",
        "-----Original Message-----",
        "---------- Forwarded message ---------",
        "Begin forwarded message:",
        "________________________________",
    ],
)
def test_reply_and_forward_headers_of_common_clients_and_languages(header: str) -> None:
    assert latest_reply(f"New text.\n\n{header}\nOld text you should not see.\n") == "New text."


def test_an_outlook_header_block_starts_the_quoted_message() -> None:
    body = (
        "We will call you back today.\n\n"
        "From: Dana Park <dana@customer.example>\n"
        "Sent: Monday, May 6, 2024 9:00 AM\n"
        "To: Support <support@acme.example>\n"
        "Subject: Leaking pipe\n\n"
        "Why haven't you called?\n"
    )
    assert latest_reply(body) == "We will call you back today."


def test_from_alone_in_the_text_is_not_a_header_block() -> None:
    body = "From: the kitchen, the water runs into the cellar.\nPlease hurry."
    assert latest_reply(body) == body


def test_an_answer_written_between_quotes_keeps_its_own_lines() -> None:
    body = "> Can you come on Tuesday?\nYes, at 10:00.\n> And bring the part?\nIt is on the van.\n"
    assert latest_reply(body) == "Yes, at 10:00.\nIt is on the van."


def test_the_signature_after_the_rfc_3676_delimiter_is_cut() -> None:
    body = "The part arrives Friday.\n\n-- \nJake Rivera\nL2 Support | Acme Plumbing\n+1 555 0100\n"
    assert latest_reply(body) == "The part arrives Friday."


def test_a_mobile_footer_is_cut() -> None:
    assert latest_reply("Thanks, 10:00 works.\n\nSent from my iPhone\n") == "Thanks, 10:00 works."
    assert latest_reply("Merci.\n\nGet Outlook for Android\n") == "Merci."


def test_after_a_closing_line_the_signature_block_is_cut_but_the_closing_line_stays() -> None:
    body = (
        "Hello Dana,\n\nI am sorry about the leak.\n\nKind regards,\n"
        "Jake Rivera\nL2 Support | Acme Plumbing\nP1 line: +1 555 0100\n"
    )
    assert latest_reply(body) == "Hello Dana,\n\nI am sorry about the leak.\n\nKind regards,"


def test_a_closing_word_early_in_a_long_message_cuts_nothing() -> None:
    lines = ["Thanks,", *[f"line {number} of what the customer wrote" for number in range(1, 9)]]
    assert latest_reply("\n".join(lines)) == "\n".join(lines)


def test_a_message_that_is_only_a_quote_has_no_text() -> None:
    assert latest_reply("> quoted\n> only\n") == ""


def test_html_text_leaves_out_blockquotes_gmail_quotes_styles_and_keeps_line_breaks() -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<div>Hello Dana,<br>the plumber comes at 10:00.</div>"
        '<div class="gmail_quote"><div>On Mon, Dana wrote:</div>'
        "<blockquote>Why haven&#39;t you?</blockquote></div>"
        "<blockquote type='cite'><p>older<p>still older</blockquote>"
        "<p>Jake &amp; team</p></body></html>"
    )
    assert html_to_text(html) == "Hello Dana,\nthe plumber comes at 10:00.\n\nJake & team"
