//! adls-csv: the Python package's ADLS CSV round trip, sequenced properly. Ensure the
//! container, make the folder, write a CSV with content type `text/csv`, read it back and
//! parse it, then clean up (after the read has finished, not racing it). Returns the rows.

use aw_guest::adls2::{self, UploadOptions};
use aw_guest::{config, log, Error};
use serde_json::{json, Value as Json};

const CSV: &str = "id,name,amount\n1,alpha,10.5\n2,beta,20.25\n3,gamma,30\n";

fn run(_input: Json) -> aw_guest::Result<Json> {
    let container = config::get("container")?;
    let folder = config::get("folder")?;
    let path = format!("{folder}/data.csv");
    let lake = adls2::open(None)?;

    let created = lake.create_container(&container, true)?;
    lake.make_dirs(&container, &folder, true)?;
    let written = lake.upload(
        &container,
        &path,
        CSV.as_bytes(),
        &UploadOptions::new().content_type("text/csv"),
    )?;
    log::info!(
        "wrote {} ({} bytes, {})",
        path,
        written.size,
        written.content_type.as_deref().unwrap_or("?")
    );

    let props = lake.properties(&container, &path)?;
    let bytes = lake.download(&container, &path, None)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::permanent("the CSV is not UTF-8"))?;
    let rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();

    lake.delete_path(&container, &folder, true)?;
    let cleaned = !lake.exists(&container, &path)?;
    Ok(json!({
        "container_created": created,
        "content_type": props.info.content_type,
        "rows": rows,
        "row_count": rows.len(),
        "cleaned_up": cleaned,
    }))
}

aw_guest::task!(run);
