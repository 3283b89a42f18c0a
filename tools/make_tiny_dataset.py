"""Write tiny data sets in the real COCO and Cityscapes layouts (4 real images, or synthetic).

The sets and their layout are described in :mod:`hrnet_mm.apis.tiny_data`; this file is its
command line.

    python tools/make_tiny_dataset.py work_dirs/tiny                # real sample if present
    python tools/make_tiny_dataset.py work_dirs/tiny --synthetic --num-images 6
"""
import argparse
import os.path as osp

from hrnet_mm.apis import DEFAULT_SOURCE, write_tiny_datasets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', nargs='?', default='work_dirs/tiny',
                        help='the sets go to OUT_DIR/data/{coco,cityscapes}')
    parser.add_argument('--source', default=DEFAULT_SOURCE,
                        help='folder with test_coco.json and its images (the real sample)')
    parser.add_argument('--synthetic', action='store_true',
                        help='generate stick-figure people even if the real sample exists')
    parser.add_argument('--num-images', type=int, default=4, help='synthetic images')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    roots = write_tiny_datasets(args.out_dir, args.source, args.synthetic, args.num_images,
                                args.seed)
    print(f'tiny data sets ({roots["source"]} images):')
    print(f'  COCO keypoints + instances: {osp.abspath(roots["coco"])}')
    print(f'  Cityscapes (person=11, background=0): {osp.abspath(roots["cityscapes"])}')


if __name__ == '__main__':
    main()
