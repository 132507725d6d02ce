"""The response reader of shared/adapters/table_batch.py on responses shaped as the Table
service documents them ("Performing entity group transactions", sample response:
https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions):
a ``batchresponse`` part holding one ``changesetresponse`` multipart, one
``application/http`` response per operation in order; a refused transaction answers
with the failing operation's response only."""

from __future__ import annotations

from shared.adapters.table_batch import _body, _parts

OK = (
    b"--batchresponse_7ab1553a\r\n"
    b"Content-Type: multipart/mixed; boundary=changesetresponse_fb6b1a08\r\n\r\n"
    b"--changesetresponse_fb6b1a08\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nContent-ID: 1\r\n"
    b"Content-Type: application/json;odata=minimalmetadata\r\n"
    b"Cache-Control: no-cache\r\nETag: W/\"datetime'2013-10-03T20%3A21%3A36.4523215Z'\"\r\n"
    b"Location: https://myaccount.table.core.windows.net/Blogs(PartitionKey='Channel_17',RowKey='3')\r\n"
    b'DataServiceVersion: 3.0;\r\n\r\n{"odata.metadata": "x"}\r\n'
    b"--changesetresponse_fb6b1a08\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\nContent-ID: 2\r\nX-Content-Type-Options: nosniff\r\n"
    b"Cache-Control: no-cache\r\netag: W/\"datetime'2013-10-03T20%3A21%3A36.4533219Z'\"\r\n"
    b"DataServiceVersion: 1.0;\r\n\r\n\r\n"
    b"--changesetresponse_fb6b1a08\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\nContent-ID: 3\r\nDataServiceVersion: 1.0;\r\n\r\n\r\n"
    b"--changesetresponse_fb6b1a08--\r\n"
    b"--batchresponse_7ab1553a--\r\n"
)

REFUSED = (
    b"--batchresponse_e69b1c6c\r\n"
    b"Content-Type: multipart/mixed; boundary=changesetresponse_f2eb7a2d\r\n\r\n"
    b"--changesetresponse_f2eb7a2d\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 409 Conflict\r\nContent-ID: 2\r\nContent-Type: application/json\r\n\r\n"
    b'{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US",'
    b'"value":"1:The specified entity already exists."}}}\r\n'
    b"--changesetresponse_f2eb7a2d--\r\n"
    b"--batchresponse_e69b1c6c--\r\n"
)


def test_each_operation_s_status_and_etag_in_order() -> None:
    parts = _parts("multipart/mixed; boundary=batchresponse_7ab1553a", OK)
    assert parts == [
        (201, "W/\"datetime'2013-10-03T20%3A21%3A36.4523215Z'\""),
        (204, "W/\"datetime'2013-10-03T20%3A21%3A36.4533219Z'\""),  # header names: any case
        (204, None),
    ]


def test_a_refused_transaction_shows_its_failing_status() -> None:
    parts = _parts('multipart/mixed; boundary="batchresponse_e69b1c6c"', REFUSED)
    assert parts == [(409, None)]


def test_anything_but_multipart_is_not_read() -> None:
    assert _parts("application/json", b'{"odata.error": {}}') is None
    assert _parts("multipart/mixed", OK) is None  # no boundary


class _Sub:
    def __init__(self, method: str, url: str, headers: dict[str, str], content: str | None):
        self.method, self.url, self.headers, self.content = method, url, headers, content


def test_the_request_body_has_one_changeset_of_application_http_parts() -> None:
    body = _body(
        [_Sub("POST", "http://h/acct/t", {"Content-Type": "application/json"}, '{"a": "\\u00e9"}'),
         _Sub("DELETE", "http://h/acct/t(PartitionKey='p',RowKey='r')", {"If-Match": "*"}, None)],
        "batch_1", "changeset_2",
    )  # fmt: skip
    text = body.decode()
    assert text.startswith(
        "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_2\r\n\r\n"
    )
    assert text.endswith("--changeset_2--\r\n\r\n--batch_1--\r\n")
    assert text.count("--changeset_2\r\nContent-Type: application/http\r\n"
                      "Content-Transfer-Encoding: binary\r\n") == 2  # fmt: skip
    assert "POST http://h/acct/t HTTP/1.1\r\n" in text and "Content-Length: 15\r\n" in text
    assert "DELETE http://h/acct/t(PartitionKey='p',RowKey='r') HTTP/1.1\r\nIf-Match: *\r\n" in text
