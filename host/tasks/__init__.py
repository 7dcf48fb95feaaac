"""Task metrics beyond classification: segmentation, detection and keypoints, from labels to scores."""
