from tests.conftest import Tenant


def test_recorded_events_appear_in_the_export(tenant: Tenant) -> None:
    tenant.record(
        [{"id": "a", "timestamp": "2026-05-19T14:03:11Z", "product": "parse", "credits": 2.5}]
    )
    response = tenant.export(startDate="2026-05-19", endDate="2026-05-19")
    assert response.status_code == 200
    assert response.json()["data"] == [
        {"date": "2026-05-19", "group": "parse", "credits": 2.5, "requestCount": 1}
    ]
