// adls-csv in JavaScript: ensure the container, make the folder, write a CSV with content
// type `text/csv`, read it back and parse it, then clean up after the read. Returns the
// rows, with the same output as the Rust example.
import { adls2, config, flow, log } from 'aw';

const CSV = 'id,name,amount\n1,alpha,10.5\n2,beta,20.25\n3,gamma,30\n';

flow(() => {
  const container = config.get('container');
  const folder = config.get('folder');
  const path = `${folder}/data.csv`;
  const lake = adls2.client();

  const created = lake.createContainer(container, true);
  lake.makeDirs(container, folder, true);
  const written = lake.uploadBytes(container, path, CSV, { contentType: 'text/csv' });
  log.info(`wrote ${path} (${written.size} bytes, ${written.content_type})`);

  const props = lake.properties(container, path);
  const text = new TextDecoder().decode(lake.downloadBytes(container, path));
  const rows = text.split('\n').filter((line) => line !== '').map((line) => line.split(','));

  lake.deletePath(container, folder, { recursive: true });
  const cleaned = !lake.exists(container, path);
  return {
    container_created: created,
    content_type: props.content_type,
    rows,
    row_count: rows.length,
    cleaned_up: cleaned,
  };
});
