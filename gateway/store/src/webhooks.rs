//! The webhook outbox: deliveries in the order they were written, per endpoint.

use crate::{
    batch::{Arg, Statement},
    codec::db,
};
use airlock_gateway_domain::{ports::StoreError, webhooks::WebhookDelivery};
use sqlx::{AnyPool, Row};

pub(crate) fn statement(d: &WebhookDelivery) -> Statement {
    Statement {
        sql: "INSERT INTO webhook_outbox (id, endpoint, body, attempts, next_attempt_ms) VALUES ($1, $2, $3, $4, $5)".into(),
        args: vec![
            Arg::Text(d.id.clone()),
            Arg::Text(d.endpoint.clone()),
            Arg::Text(d.body.clone()),
            Arg::Int(i64::from(d.attempts)),
            Arg::Int(d.next_attempt_ms),
        ],
    }
}

pub async fn pending(
    pool: &AnyPool,
    endpoint: &str,
    limit: u32,
) -> Result<Vec<WebhookDelivery>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, endpoint, body, attempts, next_attempt_ms FROM webhook_outbox
         WHERE endpoint = $1 AND delivered_ms IS NULL ORDER BY id LIMIT $2",
    )
    .bind(endpoint.to_owned())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(WebhookDelivery {
                id: r.try_get("id").map_err(db)?,
                endpoint: r.try_get("endpoint").map_err(db)?,
                body: r.try_get("body").map_err(db)?,
                attempts: u32::try_from(r.try_get::<i64, _>("attempts").map_err(db)?)
                    .unwrap_or(u32::MAX),
                next_attempt_ms: r.try_get("next_attempt_ms").map_err(db)?,
            })
        })
        .collect()
}

pub async fn delivered(pool: &AnyPool, id: &str, at_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE webhook_outbox SET delivered_ms = $1, last_error = NULL WHERE id = $2")
        .bind(at_ms)
        .bind(id.to_owned())
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}

pub async fn failed(
    pool: &AnyPool,
    id: &str,
    next_attempt_ms: i64,
    error: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_ms = $1, last_error = $2 WHERE id = $3",
    )
    .bind(next_attempt_ms)
    .bind(error.chars().take(500).collect::<String>())
    .bind(id.to_owned())
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}
