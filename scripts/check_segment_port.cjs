// Reference person masks of the MediaPipe selfie / Google Meet segmenters, computed by @vladmandic/human's own
// JavaScript runtime (dist/human.node-wasm.js on tfjs, WebAssembly backend).
//
// Run by scripts/check_segment_port.py (which installs the pinned npm packages into a temporary folder and
// writes the photos as raw RGB): node check_segment_port.cjs <node_modules> <job.json> <out folder>
//
// job.json: {"models": {"selfie": "<folder with selfie.json + selfie.bin>", "meet": ...},
//            "images": [{"name", "path", "width", "height"}]}
// For each model and image it writes little-endian float32 files into <out folder>:
//  - <model>-<image>-raw.f32: the model's output (h x w x C) after tf.image.resizeBilinear(input, [h, w])
//    and a division by 255, exactly what src/segmentation/<model>.ts feeds it;
//  - <model>-<image>-prob.f32: the person probability at the image's size (H x W): selfie: the output resized
//    with resizeBilinear as selfie.ts does; meet: softmax over the two channels (background, person), person
//    channel, resized the same way;
//  - <model>-<image>-human.f32: what human.segmentation() returns in 'alpha' mode (H x W, int 0..255).
// and <out folder>/runtime.json with the versions.
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');

async function main() {
  const [modules, jobFile, outDir] = process.argv.slice(2);
  const job = JSON.parse(fs.readFileSync(jobFile, 'utf8'));
  const { Human } = require(path.join(modules, '@vladmandic/human', 'dist/human.node-wasm.js'));
  // tfjs loads models over http in this build; serve the fetched model files on localhost only.
  const server = http.createServer((req, res) => {
    const base = path.basename(decodeURIComponent(req.url));
    const model = base.replace(/\.(json|bin)$/, '');
    const file = job.models[model] ? path.join(job.models[model], base) : '';
    if (!file || !fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200); res.end(fs.readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const runtime = {};
  for (const name of Object.keys(job.models)) {
    const human = new Human({
      backend: 'wasm',
      wasmPath: path.join(modules, '@tensorflow/tfjs-backend-wasm/dist/'),
      modelBasePath: `http://127.0.0.1:${server.address().port}/`,
      debug: false, warmup: 'none', cacheSensitivity: 0, skipAllowed: false,
      filter: { enabled: false },
      face: { enabled: false }, body: { enabled: false }, hand: { enabled: false },
      gesture: { enabled: false }, object: { enabled: false },
      segmentation: { enabled: true, modelPath: `${name}.json`, mode: 'alpha' },
    });
    await human.load();
    await human.tf.ready();
    const tf = human.tf;
    const model = human.models.models[name];
    const [h, w] = [model.inputs[0].shape[1], model.inputs[0].shape[2]];
    Object.assign(runtime, { human: human.version, tfjs: tf.version_core, backend: tf.getBackend(), node: process.version });
    runtime[name] = { input: [h, w], output: model.outputs[0].name };
    for (const img of job.images) {
      const pixels = Int32Array.from(fs.readFileSync(img.path)); // raw RGB bytes, as human makes int32 pixels
      const input = tf.tensor(pixels, [1, img.height, img.width, 3], 'int32');
      const t = {};
      t.float = tf.cast(input, 'float32');
      t.resize = tf.image.resizeBilinear(t.float, [h, w], false);
      t.norm = tf.div(t.resize, 255.0);
      t.raw = model.execute(t.norm);
      t.squeeze = tf.squeeze(t.raw, [0]);
      t.soft = t.squeeze.shape[2] === 1 ? tf.clone(t.squeeze) : tf.softmax(t.squeeze, -1); // meet: [background, person]
      t.person = tf.slice(t.soft, [0, 0, t.soft.shape[2] - 1], [-1, -1, 1]);
      t.prob = tf.image.resizeBilinear(t.person, [img.height, img.width]);
      const write = async (kind, tensor) => {
        const data = Float32Array.from(await tensor.data());
        fs.writeFileSync(path.join(outDir, `${name}-${img.name}-${kind}.f32`), Buffer.from(data.buffer));
      };
      await write('raw', t.raw);
      await write('prob', t.prob);
      const alpha = await human.segmentation(input);
      await write('human', alpha);
      tf.dispose([input, alpha, ...Object.values(t)]);
    }
  }
  fs.writeFileSync(path.join(outDir, 'runtime.json'), JSON.stringify(runtime));
  server.close();
}

main().catch((err) => { console.error(err); process.exit(1); });
