"""The scaling plot: forward time and activation memory vs input size and batch."""


def plot_scaling(scaling: dict, path: str) -> None:
    """Write a 2x2 PNG to ``path``: time and memory (rows) vs pixels and batch (columns), for
    mmpose fp32 and ours optimised fp32 / bf16 (``results['scaling']``, log-log)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = [k for k in scaling if isinstance(scaling[k], dict) and 'shape' in scaling[k]]
    size_keys = [k for k in keys if k.endswith('batch 1')]
    batch_keys = [keys[0]] + [k for k in keys if not k.endswith('batch 1')]
    names = [('theirs', 'mmpose fp32'), ('ours_fast', 'ours optimised fp32'),
             ('ours_fast_bf16', 'ours optimised bf16')]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, (ks, xlabel, xval) in enumerate((
            (size_keys, 'input pixels (batch 1)', lambda s: s[2] * s[3]),
            (batch_keys, 'batch (input %dx%d)' % tuple(scaling[keys[0]]['shape'][2:]),
             lambda s: s[0]))):
        for row, (field, ylabel) in enumerate((('median_s', 'forward time (s)'),
                                                ('extra_mib', 'activation memory (MiB)'))):
            ax = axes[row][col]
            for n, label in names:
                pts = [(xval(scaling[k]['shape']), scaling[k][n].get(field)) for k in ks]
                pts = [p for p in pts if p[1] is not None]
                if pts:
                    ax.plot(*zip(*pts), marker='o', label=label)
            ax.set_xscale('log')
            ax.set_yscale('log')
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, which='both', alpha=0.3)
            ax.legend()
    fig.suptitle('HRNet-W32 pose forward: mmpose vs hrnet_mm (same weights)')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

