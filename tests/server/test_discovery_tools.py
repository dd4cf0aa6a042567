"""find_files and load_configs through the in-memory MCP client."""

from fastmcp import Client

from schemas import ConfigResult, FoundFilesResult
from server.app import create_app
from server.settings import Settings
from tests.server.conftest import json_size


def _touch(root, *names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")


async def test_find_files_natural_order_and_captures(client, root):
    _touch(root, "data/subj_001/run_10.csv", "data/subj_001/run_2.csv", "data/subj_002/run_1.csv", "data[1].csv", "data1.csv")
    res = FoundFilesResult.model_validate(
        (await client.call_tool("find_files", {"pattern": "data/subj_{id}/run_{run}.csv", "parse": True})).structured_content
    )
    assert [f.path for f in res.files] == ["data/subj_001/run_2.csv", "data/subj_001/run_10.csv", "data/subj_002/run_1.csv"]
    assert res.files[1].captures == {"id": "001", "run": "10"} and res.total == 3 and not res.truncated
    literal = FoundFilesResult.model_validate((await client.call_tool("find_files", {"pattern": "data[1].csv"})).structured_content)
    assert [f.path for f in literal.files] == ["data[1].csv"]
    absolute = FoundFilesResult.model_validate(
        (await client.call_tool("find_files", {"pattern": f"{root.resolve()}/**/*.csv", "limit": 2})).structured_content
    )
    assert absolute.total == 5 and len(absolute.files) == 2 and absolute.truncated


async def test_find_files_refusals(client, root):
    _touch(root, "a.csv", "b.csv")
    for args, code in [
        ({"pattern": "../*"}, "PATH_OUTSIDE_ROOT"),
        ({"pattern": "/etc/*"}, "PATH_OUTSIDE_ROOT"),
        ({"pattern": "*.csv", "ensure_one": True}, "INVALID_SELECTION"),
        ({"pattern": "*.nope", "ensure_one": True}, "FILE_NOT_FOUND"),
    ]:
        res = await client.call_tool("find_files", args, raise_on_error=False)
        assert res.is_error and res.content[0].text.startswith(code + ":"), (args, res.content[0].text)


async def test_find_files_listing_is_cut_to_the_budget(root):
    _touch(root, *[f"folder_with_a_long_name/file_number_{i:05d}.txt" for i in range(2000)])
    async with Client(create_app(Settings(roots=[root], max_response_bytes=4096))) as c:
        res = await c.call_tool("find_files", {"pattern": "**/*.txt", "limit": 2000})
        assert json_size(res.structured_content) <= 4096
        found = FoundFilesResult.model_validate(res.structured_content)
        assert found.total == 2000 and found.truncated and 10 < len(found.files) < 2000
        assert found.files[0].path.endswith("file_number_00000.txt")


async def test_load_configs_merges_and_promotes_debug(client, root):
    cfg = root / "config"
    cfg.mkdir()
    (cfg / "model.yaml").write_text("lr: 0.01\ndebug_LR: 0.5\nlayers: [1, 2]\n")
    (cfg / "data.yml").write_text("Path: /x\n")
    plain = ConfigResult.model_validate((await client.call_tool("load_configs", {"debug": False})).structured_content)
    assert plain.tree == {"DATA": {"PATH": "/x"}, "MODEL": {"LR": 0.01, "DEBUG_LR": 0.5, "LAYERS": [1, 2]}}
    debug = ConfigResult.model_validate((await client.call_tool("load_configs", {"debug": True})).structured_content)
    assert debug.tree["MODEL"] == {"LR": 0.5, "LAYERS": [1, 2]} and sorted(debug.keys) == ["DATA", "MODEL"]
    (cfg / "Model.yml").write_text("x: 1\n")
    clash = await client.call_tool("load_configs", {}, raise_on_error=False)
    assert clash.is_error and clash.content[0].text.startswith("CONFIG_CONFLICT:")
    missing = await client.call_tool("load_configs", {"config_dir": "nope"}, raise_on_error=False)
    assert missing.is_error and missing.content[0].text.startswith("FILE_NOT_FOUND:")
    outside = await client.call_tool("load_configs", {"config_dir": "../.."}, raise_on_error=False)
    assert outside.is_error and outside.content[0].text.startswith("PATH_OUTSIDE_ROOT:")


async def test_large_config_is_cut_to_the_budget(root):
    cfg = root / "config"
    cfg.mkdir()
    (cfg / "big.yaml").write_text("".join(f"key_{i}: {'v' * 50}\n" for i in range(3000)))
    async with Client(create_app(Settings(roots=[root], max_response_bytes=4096))) as c:
        res = await c.call_tool("load_configs", {})
        assert json_size(res.structured_content) <= 4096
        assert ConfigResult.model_validate(res.structured_content).truncated
