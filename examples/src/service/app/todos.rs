//! The todo API: each handler checks a connection out of the shared pool
//! for the length of its work.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tidepool_async::{Pool, Row, ToSql};

use super::ApiError;

/// The table, created at start if missing.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS todos (
    id bigserial PRIMARY KEY,
    title text NOT NULL CHECK (title <> ''),
    done boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
)";

/// Creates the table if missing. Under a lock: `CREATE TABLE IF NOT
/// EXISTS` run by several services starting at once can fail.
pub async fn create_schema(pool: &Pool) -> Result<(), tidepool_async::Error> {
    /// The advisory lock's key: "todo" in ASCII.
    const SCHEMA_LOCK: i64 = 0x746f_646f;
    let mut conn = pool.get().await?;
    let tx = conn.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    tx.batch_execute(SCHEMA).await?;
    tx.commit().await
}

/// The columns of a todo, as [`Todo::from_row`] reads them.
const COLUMNS: &str =
    "id, title, done, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

/// A todo as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct Todo {
    id: i64,
    title: String,
    done: bool,
    created_at: String,
}

impl Todo {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get(0),
            title: row.get(1),
            done: row.get(2),
            created_at: row.get(3),
        }
    }
}

/// The body of `POST /api/todos`.
#[derive(Debug, Deserialize)]
pub(crate) struct NewTodo {
    title: String,
    #[serde(default)]
    done: bool,
}

/// The body of `PATCH /api/todos/{id}`: the fields to change.
#[derive(Debug, Deserialize)]
pub(crate) struct TodoChange {
    title: Option<String>,
    done: Option<bool>,
}

/// The query of `GET /api/todos`: a page of at most `limit` todos (20 by
/// default, 1 to 100), after the todo `after` (the previous page's `next`).
#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    limit: Option<i64>,
    after: Option<i64>,
}

/// A page of todos, and the cursor of the next one (`None` at the end).
#[derive(Debug, Serialize)]
pub(crate) struct Page {
    items: Vec<Todo>,
    next: Option<i64>,
}

fn checked_title(title: &str) -> Result<&str, ApiError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(ApiError::bad_request("title: must not be empty"));
    }
    Ok(title)
}

/// `POST /api/todos`.
pub(crate) async fn create(
    State(pool): State<Pool>,
    Json(new): Json<NewTodo>,
) -> Result<(StatusCode, Json<Todo>), ApiError> {
    let title = checked_title(&new.title)?;
    let conn = pool.get().await?;
    let row = conn
        .query_one(
            &format!("INSERT INTO todos (title, done) VALUES ($1, $2) RETURNING {COLUMNS}"),
            &[&title, &new.done],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Todo::from_row(&row))))
}

/// `GET /api/todos/{id}`.
pub(crate) async fn read(
    State(pool): State<Pool>,
    Path(id): Path<i64>,
) -> Result<Json<Todo>, ApiError> {
    let sql = format!("SELECT {COLUMNS} FROM todos WHERE id = $1");
    todo_or_404(&pool, id, &sql, &[&id]).await
}

/// `PATCH /api/todos/{id}`: changes the fields given.
pub(crate) async fn update(
    State(pool): State<Pool>,
    Path(id): Path<i64>,
    Json(change): Json<TodoChange>,
) -> Result<Json<Todo>, ApiError> {
    let title = change.title.as_deref().map(checked_title).transpose()?;
    let sql = format!(
        "UPDATE todos SET title = coalesce($2, title), done = coalesce($3, done)
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    todo_or_404(&pool, id, &sql, &[&id, &title, &change.done]).await
}

/// Runs `sql`, which returns the todo `id` or no row.
async fn todo_or_404(
    pool: &Pool,
    id: i64,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Json<Todo>, ApiError> {
    let conn = pool.get().await?;
    let row = conn.query_opt(sql, params).await?;
    row.map(|row| Json(Todo::from_row(&row)))
        .ok_or(ApiError::not_found(id))
}

/// `DELETE /api/todos/{id}`.
pub(crate) async fn delete(
    State(pool): State<Pool>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let conn = pool.get().await?;
    match conn
        .execute("DELETE FROM todos WHERE id = $1", &[&id])
        .await?
    {
        0 => Err(ApiError::not_found(id)),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// `GET /api/todos?limit=20&after=<id>`: todos in the order they were
/// made, a page at a time.
pub(crate) async fn list(
    State(pool): State<Pool>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page>, ApiError> {
    let limit = page.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit: 1 to 100"));
    }
    let conn = pool.get().await?;
    // One more than asked, to know whether there is a next page.
    let rows = conn
        .query(
            &format!("SELECT {COLUMNS} FROM todos WHERE id > $1 ORDER BY id LIMIT $2"),
            &[&page.after.unwrap_or(0), &(limit + 1)],
        )
        .await?;
    let mut items: Vec<Todo> = rows.iter().map(Todo::from_row).collect();
    let next = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|todo| todo.id)
    } else {
        None
    };
    Ok(Json(Page { items, next }))
}
