// The pure core's public surface.
export * from './model';
export * from './policy/schema';
export * from './policy/parse';
export * from './policy/duration';
export * from './classify';
export * from './autonomy';
export * from './gate';
export * from './incident';
export * from './decide';
export * from './operator';
