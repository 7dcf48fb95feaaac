"""Train the bundled demo model on the generated demo set and write it into the package.

    python tools/build_demo.py [--epochs 30]

A small MobileNetV2-family classifier (inverted residual blocks: 1x1 expand, 3x3 depthwise,
1x1 linear projection, residual add; BatchNorm momentum 0.9, ReLU6) for 64x64 RGB input with
the ``mobilenet`` preset ([-1, 1]). Trained on the ``train`` split, scored on the held-out
``eval`` split; writes host/data/demo/demo_model.keras and demo_model.json. Deterministic seeds;
the main job never trains, it uses the shipped file.

The demo must tell the quantization story, so after training one channel is made an outlier the
way real networks grow them (a BatchNorm whose learned scale runs away): channel ``c`` of
``block7_project_bn`` is multiplied by ``OUTLIER_SCALE`` and the ``head`` convolution divides its
input channel ``c`` by the same factor. In float the function is exactly the same (top-1
unchanged); in int8 the one wide channel stretches the tensor's range, the other 95 channels
collapse onto a few quantization steps, and integer top-1 falls by tens of points, while keeping
that producer and its consumer in float recovers it. ``--from-trained`` applies the transform to
an already trained model instead of training again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from device_agent.measuring.preprocess import get_preset  # noqa: E402
from host.convert import tfenv  # noqa: E402
from host.data import demo  # noqa: E402

PRESET = "mobilenet"
OUTLIER_PRODUCER = "block7_project_bn"
OUTLIER_CONSUMER = "head"
OUTLIER_SCALE = 200.0


def inverted_residual(k, x, expand: int, out: int, stride: int, name: str):  # type: ignore[no-untyped-def]
    channels = x.shape[-1]
    y = k.layers.Conv2D(channels * expand, 1, use_bias=False, name=f"{name}_expand")(x)
    y = k.layers.BatchNormalization(momentum=0.9, name=f"{name}_expand_bn")(y)
    y = k.layers.ReLU(6.0, name=f"{name}_expand_relu")(y)
    y = k.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = k.layers.BatchNormalization(momentum=0.9, name=f"{name}_dw_bn")(y)
    y = k.layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = k.layers.Conv2D(out, 1, use_bias=False, name=f"{name}_project")(y)
    y = k.layers.BatchNormalization(momentum=0.9, name=f"{name}_project_bn")(y)
    if stride == 1 and channels == out:
        y = k.layers.Add(name=f"{name}_add")([x, y])
    return y


def build_model(k):  # type: ignore[no-untyped-def]
    inputs = k.Input((demo.SIZE, demo.SIZE, 3), name="image")
    x = k.layers.Conv2D(24, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = k.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = k.layers.ReLU(6.0, name="stem_relu")(x)
    for i, (expand, out, stride) in enumerate(
        [(1, 16, 1), (4, 24, 2), (4, 24, 1), (4, 40, 2), (4, 40, 1), (4, 64, 2), (4, 64, 1), (4, 96, 1)]
    ):
        x = inverted_residual(k, x, expand, out, stride, f"block{i}")
    x = k.layers.Conv2D(256, 1, use_bias=False, name="head")(x)
    x = k.layers.BatchNormalization(momentum=0.9, name="head_bn")(x)
    x = k.layers.ReLU(6.0, name="head_relu")(x)
    x = k.layers.GlobalAveragePooling2D(name="pool")(x)
    x = k.layers.Dropout(0.2, name="dropout")(x)
    outputs = k.layers.Dense(len(demo.CLASSES), activation="softmax", name="classes")(x)
    return k.Model(inputs, outputs, name="demo_mobilenet_v2")


def add_outlier_channel(
    model,
    producer: str = OUTLIER_PRODUCER,
    consumer: str = OUTLIER_CONSUMER,  # type: ignore[no-untyped-def]
    scale: float = OUTLIER_SCALE,
) -> int:
    """Make one output channel of the ``producer`` BatchNorm ``scale`` times wider and undo it in
    the ``consumer`` 1x1 convolution's kernel: the same function in float, an outlier for int8.
    Returns the channel (the one with the largest learned scale already)."""
    import numpy as np

    gamma, beta, mean, variance = model.get_layer(producer).get_weights()
    channel = int(np.argmax(np.abs(gamma)))
    gamma[channel] *= scale
    beta[channel] *= scale
    model.get_layer(producer).set_weights([gamma, beta, mean, variance])
    weights = model.get_layer(consumer).get_weights()
    weights[0][:, :, channel, :] /= scale
    model.get_layer(consumer).set_weights(weights)
    return channel


def save_without_optimizer(k, model, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Ship weights only: a clone with the trained weights and no optimizer state (a third the size)."""
    clean = k.models.clone_model(model)
    clean.set_weights(model.get_weights())
    clean.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=demo.MODEL_FILE)
    parser.add_argument("--from-trained", type=Path, help="a trained demo model (no outlier yet): skip training")
    parser.add_argument("--outlier-scale", type=float, default=OUTLIER_SCALE)
    args = parser.parse_args()
    k = tfenv.keras()
    k.utils.set_random_seed(0)
    preprocess = get_preset(PRESET).apply
    train_images, train_labels = demo.generate_split("train")
    eval_images, eval_labels = demo.generate_split("eval")
    started = time.time()
    if args.from_trained:
        model = k.models.load_model(args.from_trained)
    else:
        model = build_model(k)
        schedule = k.optimizers.schedules.CosineDecay(3e-3, decay_steps=args.epochs * (len(train_labels) // 64 + 1))
        model.compile(
            optimizer=k.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        model.fit(
            preprocess(train_images),
            train_labels,
            batch_size=64,
            epochs=args.epochs,
            shuffle=True,
            verbose=2,
            validation_data=(preprocess(eval_images), eval_labels),
        )
    seconds = time.time() - started
    if args.from_trained and args.from_trained.with_suffix(".json").is_file():  # its training time, not the load's
        seconds = json.loads(args.from_trained.with_suffix(".json").read_text()).get("train_seconds", seconds)
    trained = float(np.mean(np.argmax(model.predict(preprocess(eval_images), verbose=0), axis=1) == eval_labels))
    channel = add_outlier_channel(model, scale=args.outlier_scale)
    accuracy = float(np.mean(np.argmax(model.predict(preprocess(eval_images), verbose=0), axis=1) == eval_labels))
    if abs(accuracy - trained) > 0.002:
        raise SystemExit(f"the outlier transform changed the float model: top-1 {trained:.4f} -> {accuracy:.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_without_optimizer(k, model, args.out)
    meta = {
        "preset": PRESET,
        "classes": list(demo.CLASSES),
        "input_size": demo.SIZE,
        "generator_version": demo.GENERATOR_VERSION,
        "train_images": int(len(train_labels)),
        "eval_images": int(len(eval_labels)),
        "epochs": args.epochs,
        "held_out_top1": round(accuracy, 4),
        "params": int(model.count_params()),
        "train_seconds": round(seconds, 1),
        "keras": k.__version__,
        "outlier": {
            "producer": OUTLIER_PRODUCER,
            "consumer": OUTLIER_CONSUMER,
            "channel": channel,
            "scale": args.outlier_scale,
        },
        "keep_float": [OUTLIER_PRODUCER.removesuffix("_bn"), OUTLIER_CONSUMER],
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
