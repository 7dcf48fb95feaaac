"""Tiny models and image folders that tests build for themselves (no downloads)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def keras():
    from host.convert import tfenv

    return tfenv.keras()


def weight_dominated_model(classes: int = 4, size: int = 32, batch: int | None = None):
    """~160k parameters, so sizes per mode follow the weights, not flatbuffer overhead."""
    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((size, size, 3), batch_size=batch)
    x = k.layers.Conv2D(32, 3, padding="same", strides=2)(inp)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.ReLU(6.0)(x)
    x = k.layers.DepthwiseConv2D(3, padding="same")(x)
    x = k.layers.Conv2D(128, 1)(x)
    y = k.layers.Conv2D(128, 3, padding="same")(x)
    x = k.layers.Add()([x, y])
    x = k.layers.GlobalAveragePooling2D()(x)
    out = k.layers.Dense(classes, activation="softmax")(x)
    return k.Model(inp, out)


def elementwise_layer(name: str, op):
    """A registered layer applying one keras op (``k.ops.sin``, ``k.ops.sqrt``) to its input."""
    k = keras()
    layer = type(name, (k.layers.Layer,), {"call": lambda self, inputs: op(inputs)})
    return k.saving.register_keras_serializable(package="tests")(layer)()


def sin_model():
    """A model whose SIN op has no int8 kernel: full_integer must refuse it."""
    k = keras()
    inp = k.Input((8, 8, 3))
    x = k.layers.Conv2D(8, 3)(inp)
    x = elementwise_layer("Sine", k.ops.sin)(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    return k.Model(inp, k.layers.Dense(2)(x))


def write_image_folder(root: Path, classes: int = 4, per_class: int = 8, size: int = 40, seed: int = 0) -> Path:
    """Class subfolders of random RGB PNGs."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


def conv_stack_tflite(blocks: int, size: int = 32) -> bytes:
    """A float image model of ``blocks`` identical 3x3 convolutions: its latency grows with ``blocks``
    (a build made slower by a known margin, for the release gate)."""
    from host.convert import tfenv

    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((size, size, 3), batch_size=1)
    x = inp
    for _ in range(blocks):
        x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    model = k.Model(inp, k.layers.Dense(4)(k.layers.GlobalAveragePooling2D()(x)))
    with tfenv.silenced():
        return bytes(tfenv.tf().lite.TFLiteConverter.from_keras_model(model).convert())


OUTLIER_PRODUCER, OUTLIER_CONSUMER = "mix", "wide"


def smooth_images(count: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 RGB images of coarse colour blocks with a little noise: structure a small convnet's
    pooled features can tell apart (pure noise averages out to one class)."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (count, 4, 4, 3))
    up = np.repeat(np.repeat(low, size // 4, 1), size // 4, 2)
    return np.clip(up + rng.normal(0, 12, up.shape), 0, 255).astype(np.uint8)


def outlier_model(scale: float = 300.0, size: int = 32, classes: int = 4):
    """A small convnet whose quantization-sensitive layer is known by construction.

    Channel 3 of ``mix`` (through its BatchNorm) is made ``scale`` times wider and ``wide``
    divides that input channel by the same factor: the float function is unchanged, but in int8
    the outlier stretches the ``mix`` tensor's range so its other 23 channels collapse, and the
    tiny ``wide`` weights of that channel vanish in weight quantization. Keeping only one of the
    pair in float gains nothing; keeping both recovers the float accuracy. The classifier's
    bias is centred so the four classes are predicted about equally often.
    """
    k = keras()
    k.utils.set_random_seed(1)
    inp = k.Input((size, size, 3), name="image")
    x = k.layers.Conv2D(16, 3, strides=2, padding="same", name="features")(inp)
    x = k.layers.ReLU(6.0, name="features_relu")(x)
    x = k.layers.Conv2D(24, 1, name=OUTLIER_PRODUCER)(x)
    x = k.layers.BatchNormalization(name=f"{OUTLIER_PRODUCER}_bn")(x)
    x = k.layers.Conv2D(32, 1, name=OUTLIER_CONSUMER)(x)
    x = k.layers.ReLU(name=f"{OUTLIER_CONSUMER}_relu")(x)
    x = k.layers.GlobalAveragePooling2D(name="pool")(x)
    model = k.Model(inp, k.layers.Dense(classes, name="classes")(x))
    gamma, beta, mean, variance = model.get_layer(f"{OUTLIER_PRODUCER}_bn").get_weights()
    gamma[3] *= scale
    beta[3] *= scale
    model.get_layer(f"{OUTLIER_PRODUCER}_bn").set_weights([gamma, beta, mean, variance])
    weights = model.get_layer(OUTLIER_CONSUMER).get_weights()
    weights[0][:, :, 3, :] /= scale
    model.get_layer(OUTLIER_CONSUMER).set_weights(weights)
    logits = model.predict(smooth_images(400, size, seed=9) / 127.5 - 1.0, verbose=0)
    kernel, bias = model.get_layer("classes").get_weights()
    model.get_layer("classes").set_weights([kernel, bias - logits.mean(0)])
    return model


def teacher_labelled_folder(model, root: Path, images: np.ndarray) -> Path:
    """Class subfolders holding each image under the class the float model predicts for it (the
    ``mobilenet`` preset): the float build scores 100% by construction, so every point lost is
    quantization's."""
    predicted = np.argmax(model.predict(images / 127.5 - 1.0, verbose=0), axis=1)
    for c in range(int(model.output_shape[-1])):
        (root / f"class_{c}").mkdir(parents=True, exist_ok=True)
    for i, (pixels, label) in enumerate(zip(images, predicted, strict=True)):
        Image.fromarray(pixels).save(root / f"class_{label}" / f"{i:04d}.png")
    return root


def outlier_workspace(root: Path) -> Path:
    """``root/outlier.keras`` with teacher-labelled ``calibration`` (60) and ``eval`` (200) folders."""
    model = outlier_model()
    model.save(root / "outlier.keras")
    teacher_labelled_folder(model, root / "calibration", smooth_images(60, seed=5))
    teacher_labelled_folder(model, root / "eval", smooth_images(200, seed=0))
    return root


def function_tflite(root: Path, size: int = 16, hidden: int = 256, classes: int = 4) -> Path:
    """A float .tflite made by the TFLite converter from a plain tf.function (a tf.Module saved
    with its signature), with no Keras source: what a PyTorch or JAX export hands over. Its
    fully connected weights dominate its bytes (``size/2 * size/2 * 16 * hidden`` floats)."""
    from host.convert import tfenv

    tf = tfenv.tf()
    rng = np.random.default_rng(0)

    class Net(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.constant(rng.normal(0, 0.3, (3, 3, 3, 16)).astype(np.float32))
            self.hidden = tf.constant(rng.normal(0, 0.05, ((size // 2) ** 2 * 16, hidden)).astype(np.float32))
            self.out = tf.constant(rng.normal(0, 0.1, (hidden, classes)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")])
        def __call__(self, x):
            h = tf.nn.relu(tf.nn.conv2d(x, self.kernel, 2, "SAME"))
            h = tf.nn.relu(tf.matmul(tf.reshape(h, [1, -1]), self.hidden))
            return {"scores": tf.nn.softmax(tf.matmul(h, self.out))}

    net = Net()
    with tfenv.silenced():
        tf.saved_model.save(net, str(root / "function_model"), signatures={"serving_default": net.__call__})
        content = tf.lite.TFLiteConverter.from_saved_model(str(root / "function_model")).convert()
    path = root / "function.tflite"
    path.write_bytes(content)
    return path


def precision_workspace(root: Path, count: int = 300) -> Path:
    """``root/precision.tflite`` (no Keras source) and a teacher-labelled ``eval`` folder: two fully
    connected layers, the first exact at int4 (each output channel's largest weight is 1, the rest
    sevenths of it), the second with one outlier weight per class that int4's per-channel scale
    rounds every other weight away with (86% top-1 at int4, 98.7% with it at int8, measured on
    the host). A precision tune should keep the first at int4 and raise only the second."""
    from ai_edge_litert.interpreter import Interpreter

    from host.convert import tfenv

    tf = tfenv.tf()
    rng = np.random.default_rng(1)
    first = (rng.integers(-7, 8, (3, 64)) / 7).astype(np.float32)
    first[0, :] = 1.0
    second = rng.normal(0, 0.3, (64, 8)).astype(np.float32)
    second[0, :] = 2.0

    class Net(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32, name="image")])
        def __call__(self, x):
            hidden = tf.nn.relu(tf.matmul(tf.reduce_mean(x, axis=[1, 2]), first))
            return {"scores": tf.nn.softmax(tf.matmul(hidden, second) * 4.0)}

    net = Net()
    with tfenv.silenced():
        tf.saved_model.save(net, str(root / "precision_model"), signatures={"serving_default": net.__call__})
        content = tf.lite.TFLiteConverter.from_saved_model(str(root / "precision_model")).convert()
    (root / "precision.tflite").write_bytes(content)
    colours = rng.uniform(0, 255, (count, 1, 1, 3))
    images = np.clip(colours + rng.normal(0, 6, (count, 8, 8, 3)), 0, 255).astype(np.uint8)
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    for c in range(8):
        (root / "eval" / f"class_{c}").mkdir(parents=True, exist_ok=True)
    for i, pixels in enumerate(images):
        interpreter.set_tensor(source, (pixels[None].astype(np.float32) / 127.5 - 1.0))
        interpreter.invoke()
        label = int(np.argmax(interpreter.get_tensor(target)))
        Image.fromarray(pixels).save(root / "eval" / f"class_{label}" / f"{i:04d}.png")
    return root


def third_party_tflite(model, *, float16: bool = True, legacy_opcodes: bool = True, signatures: bool = False) -> bytes:
    """A float .tflite as older converters and model zoos hand it over: float16 weights behind
    DEQUANTIZE ops (TensorFlow's float16 pattern), op codes only in the legacy
    ``deprecated_builtin_code`` byte, no signature. Rewritten with LiteRT's own schema classes."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from host.convert import tfenv

    tf = tfenv.tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if float16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    with tfenv.silenced():
        content = bytes(converter.convert())
    flat = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    if legacy_opcodes:
        for code in flat.operatorCodes:
            assert code.builtinCode < 127, "a code past 127 has no legacy form"
            code.deprecatedBuiltinCode, code.builtinCode = code.builtinCode, 0
    if not signatures:
        flat.signatureDefs = None
    builder = flatbuffers.Builder(1024)
    builder.Finish(flat.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def two_head_model(size: int = 32):
    """A segmenter-shaped model with two outputs: a per-pixel head (a mask of two classes at half
    resolution) and a regression head (four numbers): fidelity must be measured on each."""
    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((size, size, 3), batch_size=1)
    x = k.layers.Conv2D(16, 3, padding="same", strides=2, activation="relu")(inp)
    x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    mask = k.layers.Conv2D(2, 1, activation="softmax", name="mask")(x)
    box = k.layers.Dense(4, name="box")(k.layers.GlobalAveragePooling2D()(x))
    return k.Model(inp, [mask, box])


def write_flat_images(root: Path, count: int = 12, size: int = 32, seed: int = 0) -> Path:
    """An unlabelled folder of smooth RGB PNGs (no class subfolders): a fidelity-only dataset."""
    root.mkdir(parents=True, exist_ok=True)
    for i, pixels in enumerate(smooth_images(count, size, seed)):
        Image.fromarray(pixels).save(root / f"{i:03d}.png")
    return root


def threshold_segmenter(size: int = 32):
    """A segmenter with a known answer: class 1 where a pixel's mean RGB is over 127.5, else 0
    (after the mobilenet preset's x / 127.5 - 1 that is "mean over 0"; a 1x1 convolution does it).
    ``threshold_masks`` gives the masks it should reproduce, so the float build's mIoU is ~1."""
    k = keras()
    inp = k.Input((size, size, 3), batch_size=1)
    kernel = np.zeros((1, 1, 3, 2), dtype=np.float32)
    kernel[0, 0, :, 1] = 10.0 / 3.0
    mask = k.layers.Conv2D(2, 1, activation="softmax", name="mask", kernel_initializer=k.initializers.Constant(kernel))(
        inp
    )
    return k.Model(inp, mask)


def write_masks(images: Path, masks: Path) -> Path:
    """For each image, the threshold segmenter's answer as a grey PNG of class indices."""
    masks.mkdir(parents=True, exist_ok=True)
    for image in sorted(images.glob("*.png")):
        pixels = np.asarray(Image.open(image).convert("RGB"), dtype=np.float64)
        Image.fromarray((pixels.mean(axis=2) > 127.5).astype(np.uint8), mode="L").save(masks / image.name)
    return masks


BOX = (0.25, 0.125, 0.75, 0.625)  # ymin, xmin, ymax, xmax in fractions of the image: what fixed_box_detector finds


def fixed_box_detector(size: int = 32, candidates: int = 16):
    """A YOLO-style head [1, 4 + 2 classes, candidates] with a known answer: every candidate is the
    box BOX (in input pixels, from a bias) and its class is 1 for a bright image, else 0 (from the
    mean pixel), so COCO annotations written by ``write_box_annotations`` give the float build mAP 1."""
    k = keras()
    inp = k.Input((size, size, 3), batch_size=1)
    mean = k.layers.GlobalAveragePooling2D()(inp)
    ymin, xmin, ymax, xmax = (v * size for v in BOX)
    geometry = [(xmin + xmax) / 2, (ymin + ymax) / 2, xmax - xmin, ymax - ymin]
    bias = np.repeat(np.asarray(geometry, dtype=np.float32), candidates)
    boxes = k.layers.Dense(4 * candidates, kernel_initializer="zeros", bias_initializer=k.initializers.Constant(bias))(
        mean
    )
    kernel = np.zeros((3, 2 * candidates), dtype=np.float32)
    kernel[:, :candidates] = -4.0 / 3.0  # class 0 scores high when the image is dark
    kernel[:, candidates:] = 4.0 / 3.0  # class 1 when it is bright
    scores = k.layers.Dense(2 * candidates, activation="sigmoid", kernel_initializer=k.initializers.Constant(kernel))(
        mean
    )
    head = k.layers.Reshape((6, candidates), name="head")(k.layers.Concatenate()([boxes, scores]))
    return k.Model(inp, head)


def write_box_annotations(images: Path, path: Path) -> Path:
    """COCO annotations for ``fixed_box_detector``: BOX in each image's own pixels, category 10 for
    a dark image and 20 for a bright one (the model's class 0 and 1, in id order)."""
    coco: dict[str, list] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": 10, "name": "dark"}, {"id": 20, "name": "bright"}],
    }
    for i, image in enumerate(sorted(images.glob("*.png"))):
        pixels = np.asarray(Image.open(image).convert("RGB"), dtype=np.float64)
        width, height = pixels.shape[1], pixels.shape[0]
        ymin, xmin, ymax, xmax = BOX
        coco["images"].append({"id": 100 + i, "file_name": image.name, "width": width, "height": height})
        coco["annotations"].append(
            {
                "id": i + 1,
                "image_id": 100 + i,
                "category_id": 20 if pixels.mean() > 127.5 else 10,
                "bbox": [xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height],
            }
        )
    path.write_text(json.dumps(coco))
    return path


POINTS = ((4.0, 6.0), (16.0, 16.0), (28.0, 10.0))  # x, y in a 32x32 input: what fixed_points_model finds


def fixed_points_model(size: int = 32):
    """A landmark model with a known answer: POINTS (x, y, z per point, in input pixels, from a bias)
    nudged by the mean pixel by under half a pixel, so it still reads the image."""
    k = keras()
    inp = k.Input((size, size, 3), batch_size=1)
    mean = k.layers.GlobalAveragePooling2D()(inp)
    bias = np.array([v for x, y in POINTS for v in (x, y, 0.0)], dtype=np.float32)
    kernel = np.full((3, len(bias)), 0.1, dtype=np.float32)
    points = k.layers.Dense(
        len(bias),
        kernel_initializer=k.initializers.Constant(kernel),
        bias_initializer=k.initializers.Constant(bias),
        name="landmarks",
    )(mean)
    return k.Model(inp, points)


def write_points(images: Path, path: Path, input_size: int = 32) -> Path:
    """POINTS in each image's own pixels (an image of another size scales them)."""
    found = {}
    for image in sorted(images.glob("*.png")):
        width, height = Image.open(image).size
        found[image.name] = [[x * width / input_size, y * height / input_size] for x, y in POINTS]
    path.write_text(json.dumps(found))
    return path


def write_sized_images(root: Path, count: int, size: tuple[int, int], seed: int = 0) -> Path:
    """Smooth RGB PNGs of ``size`` (width, height): the evaluation resizes them to the model's input."""
    root.mkdir(parents=True, exist_ok=True)
    for i, pixels in enumerate(smooth_images(count, 32, seed)):
        Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR).save(root / f"{i:03d}.png")
    return root


def two_input_model(window: int = 64, tokens: int = 8):
    """A model no image feeds: a sensor window (float [1, window, 3]) and token ids (int32
    [1, tokens]) through an embedding, joined into four scores."""
    k = keras()
    k.utils.set_random_seed(0)
    signal = k.Input((window, 3), batch_size=1, name="window")
    ids = k.Input((tokens,), batch_size=1, name="ids", dtype="int32")
    a = k.layers.GlobalAveragePooling1D()(k.layers.Conv1D(32, 5, activation="relu")(signal))
    b = k.layers.GlobalAveragePooling1D()(k.layers.Embedding(100, 32)(ids))
    return k.Model(
        [signal, ids],
        k.layers.Dense(4, name="scores")(k.layers.Dense(64, activation="relu")(k.layers.Concatenate()([a, b]))),
    )


def two_input_tflite(window: int = 64, tokens: int = 8, optimize: bool = False) -> bytes:
    """``two_input_model`` as a float .tflite; ``optimize`` makes its dynamic-range build (int8 weights)."""
    from host.convert import tfenv

    converter = tfenv.tf().lite.TFLiteConverter.from_keras_model(two_input_model(window, tokens))
    if optimize:
        converter.optimizations = [tfenv.tf().lite.Optimize.DEFAULT]
    with tfenv.silenced():
        return bytes(converter.convert())


def write_two_input_samples(
    path: Path, count: int = 10, window: int = 64, tokens: int = 8, seed: int = 0, labels: tuple[int, ...] = ()
) -> Path:
    """Samples for ``two_input_tflite`` keyed by input name: one .npz per sample in a folder, or
    all of them stacked in one .npz when ``path`` ends in .npz; ``labels`` adds a label array."""
    rng = np.random.default_rng(seed)
    signals = rng.normal(0, 1, (count, window, 3)).astype(np.float32)
    ids = rng.integers(0, 100, (count, tokens)).astype(np.int32)
    extra = {"label": np.asarray(labels, dtype=np.int64)} if labels else {}
    if path.suffix == ".npz":
        np.savez(path, window=signals, ids=ids, **extra)
        return path
    path.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        np.savez(path / f"{i:03d}.npz", window=signals[i], ids=ids[i : i + 1], **{k: v[i] for k, v in extra.items()})
    return path


def postprocess_detector_tflite(folder: Path, size: int = 32, anchors: int = 16, max_detections: int = 5) -> bytes:
    """A float detector ending in TFLite's detection post-process op, with ``fixed_box_detector``'s
    known answer: every anchor is BOX and the box encodings are zero (so each decodes to BOX), and
    the class scores follow the mean pixel (class 0 dark, class 1 bright). Made as the Object
    Detection API makes them: a function that ``experimental_implements`` the op, fused by the
    converter from a SavedModel (``folder`` holds it)."""
    from host.convert import tfenv

    tf = tfenv.tf()
    options = {
        "max_detections": ("i", max_detections),
        "max_classes_per_detection": ("i", 1),
        "use_regular_nms": ("b", "false"),
        "nms_score_threshold": ("f", 1e-8),
        "nms_iou_threshold": ("f", 0.6),
        "y_scale": ("f", 10.0),
        "x_scale": ("f", 10.0),
        "h_scale": ("f", 5.0),
        "w_scale": ("f", 5.0),
        "num_classes": ("i", 2),
    }
    implements = " ".join(
        ['name: "TFLite_Detection_PostProcess"']
        + [f'attr {{ key: "{k}" value {{ {kind}: {v} }} }}' for k, (kind, v) in options.items()]
    )

    @tf.function(experimental_implements=implements)
    def post_process(box_encodings, class_predictions, anchor_boxes):  # the converter puts the op in its place
        del box_encodings, class_predictions, anchor_boxes
        return (
            tf.constant(0.0, name="boxes"),
            tf.constant(0.0, name="classes"),
            tf.constant(0.0, name="scores"),
            tf.constant(0.0, name="num_detections"),
        )

    ymin, xmin, ymax, xmax = BOX
    anchor = np.array([[(ymin + ymax) / 2, (xmin + xmax) / 2, ymax - ymin, xmax - xmin]] * anchors, dtype=np.float32)
    weights = np.zeros((3, anchors, 3), dtype=np.float32)
    weights[:, :, 1], weights[:, :, 2] = -4.0 / 3.0, 4.0 / 3.0  # background, dark, bright

    class Detector(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = tf.Variable(weights.reshape(3, -1))

        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")])
        def __call__(self, image):
            mean = tf.reduce_mean(image, axis=[1, 2])
            scores = tf.sigmoid(tf.reshape(tf.matmul(mean, self.weights), [1, anchors, 3]))
            encodings = tf.zeros([1, anchors, 4]) * tf.reduce_mean(mean)
            return post_process(encodings, scores, tf.constant(anchor))

    detector = Detector()
    with tfenv.silenced():
        tf.saved_model.save(detector, str(folder), signatures=detector.__call__.get_concrete_function())
        converter = tf.lite.TFLiteConverter.from_saved_model(str(folder))
        converter.allow_custom_ops = True
        return bytes(converter.convert())
