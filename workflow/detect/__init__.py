"""Object detection (the SSD samples): prior boxes, box coding, NMS, VOC-style evaluation."""
