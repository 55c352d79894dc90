"""Ticket attachments on disk: an allow-list of types checked against the file's content, a
size limit, random stored names under the instance folder, and downloads that never render."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path, PurePath

from flask import Response, abort, current_app, send_file
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from portal.helpdesk.errors import HelpdeskError
from portal.helpdesk.models import TicketAttachment

# Extension -> the content type it is served with (text types get "; charset=utf-8" from
# Flask). Nothing here is rendered by a browser as a page: HTML, SVG and the like are refused.
ALLOWED_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "log": "text/plain",
    "csv": "text/csv",
    "py": "text/x-python",
    "ipynb": "application/x-ipynb+json",
    "json": "application/json",
}
# Binary types must start with their format's signature; the rest must be UTF-8 text.
SIGNATURES = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "pdf": (b"%PDF-",),
}
MAX_FILES_PER_MESSAGE = 5


class AttachmentError(HelpdeskError):
    """A file that cannot be attached, with the reason for the person who sent it."""


@dataclass(frozen=True)
class Upload:
    """A checked file, ready to store."""

    filename: str
    extension: str
    content: bytes

    @property
    def content_type(self) -> str:
        return ALLOWED_TYPES[self.extension]

    @property
    def size(self) -> int:
        return len(self.content)


def allowed_extensions_text() -> str:
    return ", ".join(sorted(ALLOWED_TYPES))


def max_bytes() -> int:
    return int(current_app.config["HELPDESK_ATTACHMENT_MAX_BYTES"])


def check_upload(file: FileStorage) -> Upload:
    """Read and check one uploaded file: its type (by extension and content) and its size."""
    original = PurePath((file.filename or "").replace("\\", "/")).name
    filename = secure_filename(original) or "attachment"
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if extension not in ALLOWED_TYPES:
        raise AttachmentError(
            f"{original or 'The file'}: this type cannot be attached "
            f"(allowed: {allowed_extensions_text()})."
        )
    limit = max_bytes()
    content = file.stream.read(limit + 1)
    if len(content) > limit:
        raise AttachmentError(f"{original}: files may be at most {limit // (1024 * 1024)} MB.")
    if not content:
        raise AttachmentError(f"{original}: the file is empty.")
    signatures = SIGNATURES.get(extension)
    if signatures is not None:
        if not content.startswith(signatures):
            raise AttachmentError(f"{original}: the content is not a {extension.upper()} file.")
    else:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise AttachmentError(f"{original}: a .{extension} file must be UTF-8 text.") from None
    return Upload(filename=filename, extension=extension, content=content)


def check_uploads(files: list[FileStorage]) -> list[Upload]:
    chosen = [f for f in files if f and f.filename]
    if len(chosen) > MAX_FILES_PER_MESSAGE:
        raise AttachmentError(f"Attach at most {MAX_FILES_PER_MESSAGE} files at a time.")
    return [check_upload(f) for f in chosen]


def storage_root() -> Path:
    return Path(current_app.config["HELPDESK_ATTACHMENT_DIR"])


def store(upload: Upload, ticket_id: int) -> str:
    """Write the bytes under a random name; returns the stored name (`<ticket>/<random>`)."""
    directory = storage_root() / str(ticket_id)
    directory.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16)
    (directory / name).write_bytes(upload.content)
    return f"{ticket_id}/{name}"


def path_of(stored_name: str) -> Path:
    return storage_root() / stored_name


def send_download(attachment: TicketAttachment) -> Response:
    """Serve a stored file as a download: never shown inline, so it cannot act as a page."""
    path = path_of(attachment.stored_name)
    if not path.is_file():
        abort(404)
    return send_file(
        path,
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
        max_age=0,
    )


def remove(stored_names: list[str]) -> None:
    """Delete files written for a change that was then rolled back."""
    for stored_name in stored_names:
        path_of(stored_name).unlink(missing_ok=True)
