// Run the portable firmware tests under real MicroPython (the official WebAssembly port).
//   node hil/firmware/tools/run_micropython.mjs [MPWASM_DIR]
// MPWASM_DIR holds node_modules/@micropython/micropython-webassembly-pyscript (default
// .cache/mpwasm, relative to the repository root). The firmware's top-level .py files, the
// scenario engine and tests_portable/*.py are copied into the VM's in-memory file system;
// tests_portable/run.py then runs every test_*.py. Exit status 1 on any failure or error.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const tools = path.dirname(fileURLToPath(import.meta.url));
const firmware = path.resolve(tools, "..");
const repo = path.resolve(firmware, "..", "..");
const mpwasmDir = path.resolve(repo, process.argv[2] || ".cache/mpwasm");
const entry = path.join(
  mpwasmDir, "node_modules", "@micropython", "micropython-webassembly-pyscript", "micropython.mjs",
);

function copyPy(mp, hostDir, vmDir, only) {
  mp.FS.mkdirTree(vmDir);
  for (const name of fs.readdirSync(hostDir)) {
    if (!name.endsWith(".py") || (only && !only.includes(name))) continue;
    mp.FS.writeFile(`${vmDir}/${name}`, fs.readFileSync(path.join(hostDir, name)));
  }
}

async function main() {
  if (!fs.existsSync(entry)) {
    console.error(`run_micropython: ${entry} not found (install the npm package first)`);
    return 1;
  }
  const { loadMicroPython } = await import(pathToFileURL(entry).href);
  const write = (stream) => (bytes) => stream.write(bytes);
  const mp = await loadMicroPython({
    heapsize: 8 * 1024 * 1024,
    linebuffer: false,
    stdout: write(process.stdout),
    stderr: write(process.stderr),
  });
  copyPy(mp, firmware, "/fw");
  copyPy(mp, path.join(repo, "hil", "scenarios"), "/scenarios", ["engine.py"]);
  copyPy(mp, path.join(firmware, "tests_portable"), "/fw/tests_portable");
  try {
    mp.runPython(
      "import sys\nsys.path.insert(0, '/fw/tests_portable')\nimport run\n_bad = run.main('/fw/tests_portable')\n",
    );
  } catch (err) {
    console.error(`run_micropython: ${err}`);
    return 1;
  }
  const bad = mp.globals.get("_bad");
  return bad === 0 ? 0 : 1;
}

process.exitCode = await main();
