"""adls-csv in Python: ensure the container, make the folder, write a CSV with content type
`text/csv`, read it back and parse it, then clean up after the read. Returns the rows, with
the same output as the Rust example."""

from aw import adls2, config, flow, log

CSV = "id,name,amount\n1,alpha,10.5\n2,beta,20.25\n3,gamma,30\n"


@flow
def adls_csv():
    container = config.get("container")
    folder = config.get("folder")
    path = f"{folder}/data.csv"
    lake = adls2.client()

    created = lake.create_container(container, exist_ok=True)
    lake.make_dirs(container, folder, exist_ok=True)
    written = lake.upload_bytes(container, path, CSV, content_type="text/csv")
    log.info("wrote %s (%d bytes, %s)", path, written["size"], written["content_type"])

    props = lake.properties(container, path)
    text = lake.download_bytes(container, path).decode()
    rows = [line.split(",") for line in text.splitlines()]

    lake.delete_path(container, folder, recursive=True)
    cleaned = not lake.exists(container, path)
    return {
        "container_created": created,
        "content_type": props["content_type"],
        "rows": rows,
        "row_count": len(rows),
        "cleaned_up": cleaned,
    }
