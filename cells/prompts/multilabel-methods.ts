// The built-in multi-label methods (registry.ts's registerMultiLabelMethod: their own loop over label sets,
// ranking loss, scored by mAP). Each file registers itself on import, as methods.ts's single-label ones do;
// kept apart from methods.ts because TaI-DPT's loop imports the shared loop's pieces (train.ts), which
// imports methods.ts.
import './taidpt.ts';
import './multilabel-image.ts';
