from pathfer.data.synthetic.cli import main

raise SystemExit(main())
