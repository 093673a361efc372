use crate::helpers::*;
use reqwest::StatusCode;

async fn probes_answer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let health = app.client.get(app.url("/healthz")).send().await.expect("sent");
    assert_eq!(expect_status(health, StatusCode::OK).await["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.expect("sent");
    assert_eq!(expect_status(ready, StatusCode::OK).await["status"], "ready");
}

crate::on_both_stores!(probes_answer);
