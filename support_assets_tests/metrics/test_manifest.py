"""The dbt manifest: built when the code location loads if it is missing (a fresh clone
installed without make) or older than a file of the dbt project (an edited model)."""

import os
import time

from support_assets.defs.metrics import metrics_project
from support_assets_tests.metrics import known_rows


def test_a_missing_manifest_is_built_and_a_stale_one_rebuilt(tmp_path):
    project_dir = known_rows.dbt_project_copy(tmp_path)
    manifest = project_dir / "target" / "manifest.json"
    assert not manifest.exists()

    project = metrics_project(project_dir)
    assert project.manifest_path == manifest and manifest.exists()
    assert [p.name for p in (project_dir / "target").iterdir()] == ["manifest.json"]  # no parse folder left

    built = manifest.stat().st_mtime
    metrics_project(project_dir)  # up to date: nothing to do
    assert manifest.stat().st_mtime == built

    model = project_dir / "models" / "ticket_metrics.sql"
    later = built + 10
    os.utime(model, (later, later))  # the model was edited after the manifest was built
    time.sleep(0.01)
    metrics_project(project_dir)
    assert manifest.stat().st_mtime > built
