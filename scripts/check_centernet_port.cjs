// Reference detections of @vladmandic/human's CenterNet, computed by the package's own JavaScript runtime.
//
// Run by scripts/check_centernet_port.py (which installs the pinned npm packages into a temporary folder
// and writes the photos as raw RGB): node check_centernet_port.cjs <node_modules> <images.json> <out.json>
//
// For each image it records
//  - "raw": the model's own output `tower_0/detections` (x1, y1, x2, y2 in 512x512 input pixels, score,
//    class) after `tf.image.resizeBilinear(input, [512, 512])`, exactly what src/object/centernet.ts feeds it;
//  - "human": what `human.detect()` returns for the image (its NMS, thresholds, rounding), with the
//    package's default object settings.
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');

async function main() {
  const [modules, imagesFile, outFile] = process.argv.slice(2);
  const humanDir = path.join(modules, '@vladmandic/human');
  const { Human } = require(path.join(humanDir, 'dist/human.node-wasm.js'));
  const models = path.join(humanDir, 'models');
  // tfjs loads models over http in this build; serve the package's model folder on localhost only.
  const server = http.createServer((req, res) => {
    const file = path.join(models, path.basename(decodeURIComponent(req.url)));
    if (!fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200); res.end(fs.readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const objectConfig = { enabled: true, modelPath: 'centernet.json', minConfidence: 0.2, iouThreshold: 0.4, maxDetected: 10 };
  const human = new Human({
    backend: 'wasm',
    wasmPath: path.join(modules, '@tensorflow/tfjs-backend-wasm/dist/'),
    modelBasePath: `http://127.0.0.1:${server.address().port}/`,
    debug: false, warmup: 'none', cacheSensitivity: 0, skipAllowed: false,
    filter: { enabled: false },
    face: { enabled: false }, body: { enabled: false }, hand: { enabled: false },
    gesture: { enabled: false }, segmentation: { enabled: false },
    object: objectConfig,
  });
  await human.load();
  await human.tf.ready();
  const tf = human.tf;
  const model = human.models.models.centernet;
  const images = JSON.parse(fs.readFileSync(imagesFile, 'utf8'));
  const out = {
    runtime: { human: human.version, tfjs: tf.version_core, backend: tf.getBackend(), node: process.version },
    object_config: objectConfig,
    images: {},
  };
  for (const img of images) {
    const pixels = Int32Array.from(fs.readFileSync(img.path)); // raw RGB bytes, as human makes int32 pixels
    const input = tf.tensor(pixels, [1, img.height, img.width, 3], 'int32');
    const asFloat = tf.cast(input, 'float32');
    const resized = tf.image.resizeBilinear(asFloat, [512, 512]);
    const det = model.execute(resized, ['tower_0/detections']);
    const raw = (await det.array())[0];
    tf.dispose([asFloat, resized, det]);
    const result = await human.detect(input);
    tf.dispose(input);
    out.images[img.name] = { width: img.width, height: img.height, raw, human: result.object };
  }
  fs.writeFileSync(outFile, JSON.stringify(out));
  server.close();
}

main().catch((err) => { console.error(err); process.exit(1); });
