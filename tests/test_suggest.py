"""One wording of 'Did you mean …?', wherever a name is misspelt."""

from __future__ import annotations

from tests.conftest import Tenant

EXPORT = "/api/v1/usage/export"


def test_several_unknown_parameters_get_the_one_did_you_mean_sentence(tenant: Tenant) -> None:
    answer = tenant.reader.get(EXPORT, params={"start_date": "2026-05-01", "end_date": "x"})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Unknown query parameters 'start_date', 'end_date'. Did you mean 'startDate' and 'endDate'?"
    )


def test_an_unknown_parameter_with_no_close_name_lists_the_known_ones(tenant: Tenant) -> None:
    answer = tenant.reader.get(EXPORT, params={"zzz": "1", "group_by": "2"})
    assert answer.json()["error"]["message"] == (
        "Unknown query parameters 'zzz', 'group_by'. Did you mean 'groupBy'? Known parameters: "
        "'startDate', 'endDate', 'groupBy', 'orgId', 'product', 'feature', 'apiKey', "
        "'fileType', 'format', 'timeZone', 'bucketWidth', 'limit', 'page'."
    )


def test_an_unknown_group_by_value_and_event_field_get_the_same_sentence(tenant: Tenant) -> None:
    group_by = tenant.reader.get(EXPORT, params={"groupBy": "fileType"})
    assert group_by.json()["error"]["message"].endswith(" Did you mean 'file_type'?")
    event = {"id": "e1", "orgId": tenant.org_id, "timestamp": "2026-05-19T12:00:00Z"}
    body = {"events": [{**event, "product": "parse", "credits": 1, "file_type": "pdf"}]}
    answer = tenant.writer.post("/api/v1/usage/events", json=body)
    assert answer.status_code == 400
    [problem] = answer.json()["error"]["details"]
    assert problem["message"] == "Unknown field 'file_type'. Did you mean 'fileType'?"
    body = {"events": [{**event, "product": "parse", "credits": 1, "colour": "red"}]}
    [problem] = tenant.writer.post("/api/v1/usage/events", json=body).json()["error"]["details"]
    assert problem["message"] == (
        "Unknown field 'colour'. Known fields: 'id', 'orgId', 'timestamp', 'product', "
        "'feature', 'apiKey', 'fileType', 'credits', 'units', 'requestCount'."
    )
